"""Per-client limits of the HTTP API, keyed by the client's address.

Memory stays bounded under a flood from many addresses: past ``MAX_CLIENTS`` tracked addresses the
table is cleared, which forgives everyone at once rather than growing without end.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Callable

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


class TokenBuckets:
    """A token bucket per client address: ``per_minute`` tokens a minute, at most that many saved.

    A client may use a minute's worth at once (a script that sets up a few rooms), then one every
    60 / ``per_minute`` seconds. ``per_minute`` 0 turns the limit off.
    """

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # address -> (tokens, when counted)

    def take(self, who: str) -> float:
        """Spend a token of ``who``: 0.0 if there was one, else the seconds until there is."""
        if self.per_minute <= 0:
            return 0.0
        now = self._clock()
        if len(self._buckets) > MAX_CLIENTS:
            self._buckets.clear()  # bounded memory beats perfect accounting under a flood
        capacity = float(self.per_minute)
        rate = capacity / 60.0
        tokens, then = self._buckets.get(who, (capacity, now))
        tokens = min(capacity, tokens + (now - then) * rate)
        if tokens < 1.0:
            self._buckets[who] = (tokens, now)
            return (1.0 - tokens) / rate
        self._buckets[who] = (tokens - 1.0, now)
        return 0.0
