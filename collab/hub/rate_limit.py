"""Per-client limits of the HTTP API, keyed by the client's address.

Memory stays bounded under a flood from many addresses: past ``MAX_CLIENTS`` tracked addresses the
table is cleared, which forgives everyone at once rather than growing without end.
"""

from __future__ import annotations

import time
from collections import deque

from starlette.requests import Request

MAX_CLIENTS = 10_000


def client_address(request: Request) -> str:
    return request.client.host if request.client else "?"


class PostLimiter:
    """A sliding one-minute window of requests per client address."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._seen: dict[str, deque[float]] = {}

    def allow(self, who: str) -> bool:
        now = time.monotonic()
        if len(self._seen) > MAX_CLIENTS:
            self._seen.clear()  # bounded memory beats perfect accounting under a flood
        window = self._seen.setdefault(who, deque())
        while window and window[0] <= now - 60:
            window.popleft()
        if len(window) >= self.per_minute:
            return False
        window.append(now)
        return True
