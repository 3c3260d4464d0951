"""At most one log line per key per interval; the next line that gets through says how many were held back.

Without it a client chooses how much the hub writes to its log: every refused frame (a junk
presence NACKed, a write from a reader) and every connection it opens wrote a line or more, so
20,000 junk frames were 20,000 lines and a flood of connections that ran the process out of file
descriptors 32,000. Connections key their lines by kind (``Connection.log``): one line per kind per
connection per interval. ``RepeatFilter`` does the same, keyed by message, for loggers the hub does
not call itself (uvicorn's per-connection lines, asyncio's accept errors).
"""

from __future__ import annotations

import logging
import time
from typing import Callable, Hashable

INTERVAL_S = 10.0
# Keys remembered at once; past that the table starts over (bounded memory beats exact counts).
MAX_KEYS = 1024


class LogLimit:
    """Lets the first line of a key through, then one per ``interval`` seconds."""

    __slots__ = ("interval", "_clock", "_keys")

    def __init__(self, interval: float = INTERVAL_S, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self._clock = clock
        self._keys: dict[Hashable, list[float]] = {}  # key -> [when a line last went out, lines held back since]

    def allow(self, key: Hashable) -> int | None:
        """None to hold this line back, else how many lines of ``key`` were held back before it."""
        now = self._clock()
        entry = self._keys.get(key)
        if entry is None:
            if len(self._keys) >= MAX_KEYS:
                self._keys.clear()
            self._keys[key] = [now, 0]
            return 0
        if now - entry[0] < self.interval:
            entry[1] += 1
            return None
        held = int(entry[1])
        entry[0], entry[1] = now, 0
        return held

    def log(self, logger: logging.Logger, level: int, key: Hashable, msg: str, *args: object) -> None:
        """``logger.log(level, msg, *args)`` unless a line of ``key`` went out less than an interval ago."""
        if not logger.isEnabledFor(level):
            return
        held = self.allow(key)
        if held is None:
            return
        if held:
            msg, args = msg + _HELD, (*args, held, self.interval)
        logger.log(level, msg, *args)


_HELD = " (%d more like this held back in the last %g s)"


class RepeatFilter(logging.Filter):
    """A logging filter: records with the same logger and message format pass once per interval."""

    def __init__(self, interval: float = INTERVAL_S, *, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.limit = LogLimit(interval, clock=clock)

    def filter(self, record: logging.LogRecord) -> bool:
        held = self.limit.allow((record.name, record.levelno, str(record.msg)))
        if held is None:
            return False
        if held and isinstance(record.args, tuple) and (record.args or "%" not in str(record.msg)):
            record.msg = str(record.msg) + _HELD
            record.args = (*record.args, held, self.limit.interval)
        return True
