"""Let the hub drop a websocket's TCP connection outright.

ASGI has no "abort": a close frame waits behind whatever is queued for the peer, and a peer that
does not read never gets it, so its socket (and the server's buffer for it) would linger. uvicorn's
``send`` callable is a method of its protocol object, which owns the transport; this outermost
middleware, which sees ``send`` before Starlette wraps it, puts the transport's ``abort`` in the scope.
"""

from __future__ import annotations

from typing import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

ABORT_SCOPE_KEY = "collab.abort"
# The server's ``send`` before Starlette wraps it: connections send their frames through it directly.
RAW_SEND_SCOPE_KEY = "collab.send"


class TransportAbortMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            transport = getattr(getattr(send, "__self__", None), "transport", None)
            abort: Callable[[], None] | None = getattr(transport, "abort", None)
            scope = {**scope, RAW_SEND_SCOPE_KEY: send}
            if abort is not None:
                scope[ABORT_SCOPE_KEY] = abort
        await self.app(scope, receive, send)
