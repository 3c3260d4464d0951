"""Pacing one connection's presence: at most ``rate`` relays a second, the excess folded into the next.

Presence is state, not a stream of events: only each client's latest state matters. So a
connection that sends faster than the rate loses nothing that matters. Its sender keeps what
waits (the latest state), and the pacer says when it may go: at once while tokens last (a second's
worth at once), otherwise from a timer when the next token is due. A burst of a thousand cursor
moves is one relay per tick instead of a thousand fan-outs.
"""

from __future__ import annotations

import asyncio
from typing import Callable


class Pacer:
    """A token bucket with a timer; no task, no event: a hub keeps one per connection that sent presence."""

    __slots__ = ("_rate", "_tokens", "_then", "_flush", "_timer")

    def __init__(self, rate: float, flush: Callable[[], None]) -> None:
        self._rate = rate  # tokens a second; 0 or less: no limit
        self._tokens = max(1.0, rate)
        self._then = asyncio.get_running_loop().time()
        self._flush = flush
        self._timer: asyncio.TimerHandle | None = None

    def ready(self) -> bool:
        """Spend a token and return True: send now. False: keep it; ``flush`` runs when it may go."""
        if self._rate <= 0:
            return True
        if self._timer is not None:
            return False  # a flush is already due: it carries this too
        loop = asyncio.get_running_loop()
        self._refill(loop.time())
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        self._timer = loop.call_later((1.0 - self._tokens) / self._rate, self._due)
        return False

    @property
    def waiting(self) -> bool:
        return self._timer is not None

    def idle(self) -> bool:
        """No flush due and a full bucket: a fresh Pacer would behave the same, so it can go."""
        if self._timer is not None:
            return False
        self._refill(asyncio.get_running_loop().time())
        return self._tokens >= max(1.0, self._rate)

    def _refill(self, now: float) -> None:
        self._tokens = min(max(1.0, self._rate), self._tokens + (now - self._then) * self._rate)
        self._then = now

    def _due(self) -> None:
        self._timer = None
        self._refill(asyncio.get_running_loop().time())
        self._tokens -= 1.0
        self._flush()

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
