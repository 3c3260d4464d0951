"""Websocket requests go from the server straight to their endpoint.

Starlette passes a websocket through its error middleware, our middleware, the exception
middleware, the router, the route and two exception wrappers before the endpoint runs; each is a
coroutine frame (and some a scope copy or a second ``WebSocket``) that stays alive as long as the
connection. For a hub that holds thousands of mostly idle connections that was about 6 kB of the
32 kB each one cost (tracemalloc, bench/ workload e), so this outermost middleware matches the
websocket routes itself and calls their endpoints directly. HTTP requests, and websockets to any
other path, go through Starlette as usual.
"""

from __future__ import annotations

from starlette.routing import Match, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from collab.hub.abort import expose_transport


class WebSocketShortcut:
    def __init__(self, app: ASGIApp, *, routes: list[WebSocketRoute]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            for route in self.routes:
                match, child_scope = route.matches(scope)
                if match is Match.FULL:
                    expose_transport(scope, send)
                    scope.update(child_scope)
                    await route.endpoint(WebSocket(scope, receive, send))
                    return
        await self.app(scope, receive, send)
