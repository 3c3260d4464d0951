"""Which browser origins may open a websocket or post, and which Host names a request may use.

Checking Origin stops a page on another site from driving a visitor's browser into a room
(cross-site websocket hijacking); non-browser clients send no Origin and are not affected.

Checking Host stops DNS rebinding: a page on evil.example whose name the attacker then points at
127.0.0.1 is same-origin with itself, so its Origin matches its Host and the Origin check passes;
but its requests say ``Host: evil.example``. Allowed are localhost, any IP address (rebinding needs
a name the attacker controls), the name the hub binds (``--host``), the hosts of
``--allowed-origins`` and ``--allowed-hosts`` (``*`` allows any). Others get 421. /healthz answers
whatever the Host: load balancers probe it by their upstream's name (Caddy sends ``hub-a:8000``)
and it tells a rebinding page nothing.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


WILDCARD_BINDS = frozenset({"", "0.0.0.0", "::"})
# Paths served whatever the Host header says (see the module docstring).
ANY_HOST_PATHS = frozenset({"/healthz"})


def _host_of(netloc: str) -> str:
    try:
        return (urlsplit("//" + netloc).hostname or "").lower().rstrip(".")
    except ValueError:  # an unbalanced "[" in a Host header
        return ""


def allowed_hosts(bind_host: str, allowed_origins: tuple[str, ...], extra: tuple[str, ...]) -> frozenset[str]:
    """The Host names a hub answers to (IP addresses are always accepted besides these)."""
    names = set(LOCAL_HOSTS) | {h.lower().rstrip(".") for h in extra}
    if bind_host not in WILDCARD_BINDS:
        names.add(bind_host.lower())
    names.update(_host_of(urlsplit(origin).netloc) for origin in allowed_origins)
    return frozenset(names)


def host_allowed(host_header: str | None, allowed: frozenset[str]) -> bool:
    if host_header is None or "*" in allowed:
        return True  # HTTP/1.0 without Host cannot come from a browser's page
    host = _host_of(host_header)
    if not host:
        return False
    if host in allowed:
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def host_refusal(host_header: str | None) -> str:
    name = _host_of(host_header or "") or repr(host_header)
    return f"this hub does not answer to the name {name}: start it with --allowed-hosts {name} if it should"


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


class HostCheckMiddleware:
    """Answers 421 to HTTP requests whose Host is not one of the hub's names (DNS rebinding).

    Websockets skip Starlette's middleware (collab.hub.shortcut): their endpoint makes the same check.
    """

    def __init__(self, app: ASGIApp, *, allowed: frozenset[str]) -> None:
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in ANY_HOST_PATHS:
            host = Headers(scope=scope).get("host")
            if not host_allowed(host, self.allowed):
                response = JSONResponse({"error": host_refusal(host)}, status_code=421)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


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
