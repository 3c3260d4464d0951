"""Which browser origins may open a websocket or post: same host, localhost, and an explicit allow-list.

Checking Origin stops a page on another site from driving a visitor's browser into a room
(cross-site websocket hijacking); non-browser clients send no Origin and are not affected.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


def _host_of(netloc: str) -> str:
    return (urlsplit("//" + netloc).hostname or "").lower()


def origin_allowed(origin: str | None, host_header: str | None, allowed: tuple[str, ...]) -> bool:
    if origin is None:
        return True
    if origin == "null":
        return False
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    origin_host = parts.hostname.lower()
    if origin_host in LOCAL_HOSTS:
        return True
    if host_header and origin_host == _host_of(host_header):
        return True
    normalized = f"{parts.scheme}://{parts.netloc}".lower()
    return normalized in {a.rstrip("/").lower() for a in allowed}


class OriginCheckMiddleware:
    """Refuses state-changing HTTP requests (POST, PUT, PATCH, DELETE) from other sites' pages.

    Without it a page anywhere could make a visitor's browser create or squat room names (which
    matters with --require-room-creation) or post to the agent directory. Requests without an
    Origin header (the CLI, agents, curl) are not browsers acting for another site and pass.
    """

    SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

    def __init__(self, app: ASGIApp, *, allowed: tuple[str, ...]) -> None:
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in self.SAFE_METHODS:
            headers = Headers(scope=scope)
            if not origin_allowed(headers.get("origin"), headers.get("host"), self.allowed):
                response = JSONResponse({"error": "cross-origin request refused"}, status_code=403)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
