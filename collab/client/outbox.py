"""The encrypted client's outbox: sealed updates kept, byte for byte, until the hub acknowledges them.

Each local update is sealed once, with the next number of our author sequence, and queued as a
PUBLISH frame. After a reconnect every unacknowledged frame is re-sent in order, so the sequence
others see from us never has a hole. The hub acknowledges in order; a NACK that retrying cannot
fix (forbidden, invalid) drops that one frame so it does not block the rest.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass
from typing import Callable

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Pending:
    ref: int
    frame: bytes  # the PUBLISH frame, re-sent byte for byte after a reconnect
    update: bytes = b""  # what it seals, to seal again after a key rotation
    seq: int = 0  # its author seq


class Outbox:
    def __init__(self, label: str) -> None:
        self.label = label
        self._queue: deque[_Pending] = deque()
        self._sent = 0  # how many of the queue went out on the current connection
        self._next_ref = 1
        self._acked = asyncio.Event()  # set whenever the queue shrinks

    def __len__(self) -> int:
        return len(self._queue)

    def new_ref(self) -> int:
        """The next client reference (PUBLISH and SNAPSHOT frames share one counter)."""
        ref = self._next_ref
        self._next_ref += 1
        return ref

    def add(self, ref: int, frame: bytes, update: bytes = b"", seq: int = 0) -> None:
        self._queue.append(_Pending(ref, frame, update, seq))

    def reseal(self, seal: Callable[[int, int, bytes], bytes]) -> None:
        """The room's keys were rotated: each waiting update becomes ``seal(ref, seq, update)`` (a
        PUBLISH under the new epoch, same author seq), since the hub refuses the old epoch now."""
        for pending in self._queue:
            if pending.seq:
                pending.frame = seal(pending.ref, pending.seq, pending.update)

    def restart(self) -> None:
        """A new connection: everything queued goes out again, in order."""
        self._sent = 0

    def next_unsent(self) -> bytes | None:
        if self._sent >= len(self._queue):
            return None
        frame = self._queue[self._sent].frame
        self._sent += 1
        return frame

    def largest(self) -> int:
        """The largest frame waiting (0: none)."""
        return max((len(p.frame) for p in self._queue), default=0)

    def largest_sent(self) -> int:
        """The largest frame sent on this connection and not yet acknowledged (0: none)."""
        return max((len(self._queue[i].frame) for i in range(min(self._sent, len(self._queue)))), default=0)

    def ack(self, ref: int) -> bytes | None:
        """Drop everything up to ``ref``; the acknowledged PUBLISH frame (None: not queued)."""
        acked = None
        while self._queue:
            pending = self._queue.popleft()
            self._sent = max(0, self._sent - 1)
            if pending.ref == ref:
                acked = pending.frame
                break
            log.warning("%s: ACK %d skipped unacknowledged ref %d", self.label, ref, pending.ref)
        self._acked.set()
        return acked

    def drop(self, ref: int) -> None:
        for i, pending in enumerate(self._queue):
            if pending.ref == ref:
                del self._queue[i]
                if i < self._sent:
                    self._sent -= 1
                break
        self._acked.set()

    async def drained(self) -> None:
        while self._queue:
            self._acked.clear()
            await self._acked.wait()
