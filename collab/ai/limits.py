"""Per-room budgets: requests per minute and tokens per hour, checked before a model call.

The agent serves one room, so one limiter per agent is one per room. Windows slide (a deque of
timestamps), so a burst cannot reset at a minute boundary. Inline completions (collab/ai/inline.py)
have a limiter of their own with a higher request rate (one typist pausing every few seconds is
~20 a minute), sharing the room's hourly token window with chat and suggestions
(:meth:`RateLimiter.sharing_tokens`).
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class RoomLimits:
    requests_per_minute: int = 20
    tokens_per_hour: int = 200_000
    inline_per_minute: int = 240  # inline completion requests per room per minute


class _TokenWindow:
    """Tokens spent in the last hour; shared by the limiters of one room."""

    def __init__(self) -> None:
        self.entries: deque[tuple[float, int]] = deque()
        self.total = 0

    def expire(self, now: float) -> None:
        while self.entries and now - self.entries[0][0] >= 3600.0:
            self.total -= self.entries.popleft()[1]


class RateLimiter:
    def __init__(self, limits: RoomLimits, clock: Callable[[], float] = time.monotonic,
                 *, _window: _TokenWindow | None = None) -> None:
        self.limits = limits
        self._clock = clock
        self._requests: deque[float] = deque()
        self._window = _window or _TokenWindow()

    def sharing_tokens(self, requests_per_minute: int) -> "RateLimiter":
        """A limiter with its own request rate that counts tokens in this one's hourly window."""
        limits = RoomLimits(requests_per_minute, self.limits.tokens_per_hour, self.limits.inline_per_minute)
        return RateLimiter(limits, self._clock, _window=self._window)

    @property
    def _token_sum(self) -> int:
        return self._window.total

    def _expire(self, now: float) -> None:
        while self._requests and now - self._requests[0] >= 60.0:
            self._requests.popleft()
        self._window.expire(now)

    def refusal(self) -> str | None:
        """Why a new request must wait, in words for the chat; None when it may go ahead (and is counted)."""
        now = self._clock()
        self._expire(now)
        if len(self._requests) >= self.limits.requests_per_minute:
            wait = 60.0 - (now - self._requests[0])
            return (f"this room has made {len(self._requests)} AI requests in the last minute "
                    f"(limit {self.limits.requests_per_minute}); try again in {max(1, round(wait))} s")
        if self._token_sum >= self.limits.tokens_per_hour:
            wait = 3600.0 - (now - self._window.entries[0][0])
            return (f"this room has used {self._token_sum} AI tokens in the last hour "
                    f"(limit {self.limits.tokens_per_hour}); try again in {max(1, round(wait / 60))} min")
        self._requests.append(now)
        return None

    def spent(self, tokens: int) -> None:
        if tokens > 0:
            self._window.entries.append((self._clock(), tokens))
            self._window.total += tokens

    @property
    def tokens_this_hour(self) -> int:
        self._expire(self._clock())
        return self._token_sum
