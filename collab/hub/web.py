"""The browser client: the landing page, the session page, the built assets, security headers.

The assets are built from web/ into collab/static/ and committed (see web/README.md), so the
hub serves them without Node. Both pages are static: the room key lives in the link's fragment,
which browsers never send, and the page derives everything from it in the browser.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from collab.protocol.room_names import ROOM_NAME_RULE, valid_room_name

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

# No inline scripts, nothing from third parties. connect-src 'self' covers ws:/wss: to this same
# host and port (CSP Level 3), so the page cannot be turned into a beacon to anywhere else.
# style-src allows inline styles because CodeMirror positions cursors and widgets with style
# attributes; styles cannot run code. img-src has no data: (an injected style drew a full-page
# fake notice with a data: SVG, issue 13 finding 7); the page shows no data: image (the one in the
# bundle is CodeMirror's highlightWhitespace tab arrow, which the editor does not turn on).
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self'",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    # The fragment never leaves the browser, but the room path should not leak to other sites either.
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=(), usb=()"),
)


class SecurityHeadersMiddleware:
    """Adds the security headers to every HTTP response (not to websocket handshakes)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(name, value) for name, value in SECURITY_HEADERS if name not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _page(name: str, static_dir: Path) -> Response:
    path = static_dir / name
    if not path.is_file():
        return PlainTextResponse(
            "The web client is not built: run `npm ci --prefix web && npm run build --prefix web`.",
            status_code=503,
        )
    # Always revalidate: a stale page with a fresh hub (or the reverse) is a confusing bug.
    return FileResponse(path, media_type="text/html; charset=utf-8", headers={"cache-control": "no-cache"})


def web_routes(static_dir: Path = STATIC_DIR) -> list[BaseRoute]:
    async def landing(request: Request) -> Response:
        return _page("index.html", static_dir)

    async def session(request: Request) -> Response:
        if not valid_room_name(request.path_params["room"]):
            return PlainTextResponse(ROOM_NAME_RULE, status_code=404)
        return _page("session.html", static_dir)

    return [
        Route("/", landing),
        Route("/s/{room}", session),
        Mount("/static", app=_RevalidatingStatic(directory=static_dir, check_dir=False), name="static"),
    ]


class _RevalidatingStatic(StaticFiles):
    """Asset names carry no content hash, so browsers must revalidate (ETag) on every load."""

    def file_response(self, *args, **kwargs) -> Response:  # type: ignore[no-untyped-def]
        response = super().file_response(*args, **kwargs)
        response.headers["cache-control"] = "no-cache"
        return response
