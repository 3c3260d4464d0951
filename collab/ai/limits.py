"""Per-room budgets: requests per minute and tokens per hour, checked before a model call.

The agent serves one room, so one limiter per agent is one per room. Windows slide (a deque of
timestamps), so a burst cannot reset at a minute boundary.
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


class RateLimiter:
    def __init__(self, limits: RoomLimits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self._requests: deque[float] = deque()
        self._tokens: deque[tuple[float, int]] = deque()
        self._token_sum = 0

    def _expire(self, now: float) -> None:
        while self._requests and now - self._requests[0] >= 60.0:
            self._requests.popleft()
        while self._tokens and now - self._tokens[0][0] >= 3600.0:
            self._token_sum -= self._tokens.popleft()[1]

    def refusal(self) -> str | None:
        """Why a new request must wait, in words for the chat; None when it may go ahead (and is counted)."""
        now = self._clock()
        self._expire(now)
        if len(self._requests) >= self.limits.requests_per_minute:
            wait = 60.0 - (now - self._requests[0])
            return (f"this room has made {len(self._requests)} AI requests in the last minute "
                    f"(limit {self.limits.requests_per_minute}); try again in {max(1, round(wait))} s")
        if self._token_sum >= self.limits.tokens_per_hour:
            wait = 3600.0 - (now - self._tokens[0][0])
            return (f"this room has used {self._token_sum} AI tokens in the last hour "
                    f"(limit {self.limits.tokens_per_hour}); try again in {max(1, round(wait / 60))} min")
        self._requests.append(now)
        return None

    def spent(self, tokens: int) -> None:
        if tokens > 0:
            self._tokens.append((self._clock(), tokens))
            self._token_sum += tokens

    @property
    def tokens_this_hour(self) -> int:
        self._expire(self._clock())
        return self._token_sum
