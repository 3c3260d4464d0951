"""Per-client limits of the HTTP API, keyed by the client's address.

Memory stays bounded under a flood from many addresses: past ``MAX_CLIENTS`` tracked addresses the
table is cleared, which forgives everyone at once rather than growing without end.
"""

from __future__ import annotations

import math
import time
from collections import deque
from typing import Callable

from starlette.requests import HTTPConnection

MAX_CLIENTS = 10_000


def client_address(connection: HTTPConnection) -> str:
    """The client's address of a request or websocket (behind a trusted proxy, from X-Forwarded-For)."""
    return connection.client.host if connection.client else "?"


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


class TokenBucket:
    """``rate`` tokens a second, at most ``capacity`` saved; starts full."""

    __slots__ = ("rate", "capacity", "tokens", "then")

    def __init__(self, rate: float, capacity: float, now: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
        self.then = now

    def take(self, amount: float, now: float) -> float:
        """Spend ``amount``: 0.0 if there was that much, else the seconds until there is (nothing spent)."""
        tokens = min(self.capacity, self.tokens + (now - self.then) * self.rate)
        self.then = now
        if tokens < amount:
            self.tokens = tokens
            return (amount - tokens) / self.rate
        self.tokens = tokens - amount
        return 0.0


class TokenBuckets:
    """A token bucket per key (a client address, a room): ``per_minute`` tokens a minute, at most that many saved.

    A client may use a minute's worth at once (a script that sets up a few rooms), then one every
    60 / ``per_minute`` seconds. ``per_minute`` 0 turns the limit off. ``of`` makes buckets of any
    rate and size (bytes a second, with a burst).
    """

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.rate = per_minute / 60.0
        self.capacity = float(per_minute)
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}

    @classmethod
    def of(cls, rate: float, capacity: float, clock: Callable[[], float] = time.monotonic) -> "TokenBuckets":
        """Buckets of ``rate`` tokens a second holding at most ``capacity`` (rate 0: no limit)."""
        buckets = cls(0, clock)
        buckets.rate, buckets.capacity = rate, capacity
        return buckets

    def take(self, who: str, amount: float = 1.0) -> float:
        """Spend ``amount`` tokens of ``who``: 0.0 if there were, else the seconds until there are."""
        if self.rate <= 0:
            return 0.0
        now = self._clock()
        bucket = self._buckets.get(who)
        if bucket is None:
            if len(self._buckets) > MAX_CLIENTS:
                self._buckets.clear()  # bounded memory beats perfect accounting under a flood
            bucket = self._buckets[who] = TokenBucket(self.rate, self.capacity, now)
        return bucket.take(amount, now)


def rooms_refused(limiter: TokenBuckets, wait: float) -> tuple[str, int]:
    """Why a room creation ``limiter`` refused is refused, and the seconds until it is not (Retry-After).

    The same words whether the room was to be made by POST /api/rooms or by a first connect."""
    seconds = max(1, math.ceil(wait))
    return (
        f"too many rooms created from your address: at most {limiter.per_minute} a minute; try again in {seconds} s",
        seconds,
    )
