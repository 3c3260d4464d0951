"""Websocket requests go from the server straight to their endpoint.

Starlette passes a websocket through its own ``__call__``, its error middleware, our middleware,
the exception middleware, the router, the route and two exception wrappers before the endpoint
runs; each is a coroutine frame (and some a scope copy or a second ``WebSocket``) that stays alive
as long as the connection. For a hub that holds thousands of mostly idle connections that was
about 7 kB of the 32 kB each one cost (tracemalloc, bench/ workload e-conn), so this app matches
its websocket routes itself, first, and calls their endpoints directly. HTTP and lifespan, and
websockets to any other path, go through Starlette as usual.

Nothing on the skipped path acts on websockets we serve: the error middleware and the security
headers pass them through, and no endpoint raises ``WebSocketException`` for the exception
middleware to turn into a close; an uncaught error still reaches uvicorn, which logs it.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.routing import Match, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from collab.hub.abort import expose_transport


class ShortcutStarlette(Starlette):
    """Starlette that serves the websocket routes it was built with before anything else."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._websocket_routes = [r for r in self.router.routes if isinstance(r, WebSocketRoute)]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            for route in self._websocket_routes:
                match, child_scope = route.matches(scope)
                if match is Match.FULL:
                    scope["app"] = self  # what Starlette.__call__ would set: endpoints read ws.app
                    expose_transport(scope, send)
                    scope.update(child_scope)
                    await route.endpoint(WebSocket(scope, receive, send))
                    return
        await super().__call__(scope, receive, send)
