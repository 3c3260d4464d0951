"""Which browser origins may open a websocket: same host, localhost, and an explicit allow-list.

Checking Origin stops a page on another site from driving a visitor's browser into a room
(cross-site websocket hijacking); non-browser clients send no Origin and are not affected.
"""

from __future__ import annotations

from urllib.parse import urlsplit

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
