"""Compaction for an encrypted room: a writer seals the whole document as a snapshot now and then.

After ``every`` updates (ours acknowledged, or others' applied) a writer that holds exactly the
hub's entries 1..N (nothing of ours in flight, no holes) seals the document with the replay
guard's heads as a snapshot covering N; the hub swaps it in for those entries, so a later joiner
reads one envelope instead of the whole log.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass
from typing import Any

import pycrdt

from collab.client.provider import ProviderError
from collab.crypto.keys import RoomKeys
from collab.protocol import relay_frames as frames
from collab.protocol.envelope import ReplayGuard, seal_snapshot
from collab.protocol.snapshot import encode_snapshot

log = logging.getLogger(__name__)



@dataclass(slots=True)
class _InFlight:
    ref: int
    size: int  # bytes of its SNAPSHOT frame


class Compactor:
    def __init__(
        self,
        keys: RoomKeys,
        author_id: bytes,
        doc: pycrdt.Doc[Any],
        guard: ReplayGuard,
        *,
        every: int,
    ) -> None:
        self.keys = keys
        self.author_id = author_id
        self.doc = doc
        self.guard = guard
        self.every = every
        self.since = 0  # updates since the last snapshot
        self.made = 0  # snapshots the hub acknowledged
        self.outgoing: deque[bytes] = deque()  # sent once, on the current connection only
        self.in_flight: _InFlight | None = None
        self.done: asyncio.Future[int] | None = None  # what compact() waits on
        self._seq = 0

    def counted(self) -> bool:
        """One more update; True when a snapshot is due."""
        self.since += 1
        return self.since >= self.every

    def make(self, ref: int, covers: int) -> None:
        """Queue a snapshot of the document covering entries up to ``covers``."""
        plaintext = encode_snapshot(self.doc.get_update(), self.guard.export())
        self._seq += 1
        envelope = seal_snapshot(self.keys, self.author_id, self._seq, covers, plaintext)
        frame = frames.snapshot(ref, envelope)
        self.in_flight = _InFlight(ref, len(frame))
        self.outgoing.append(frame)

    def acked(self, ref: int, seq: int) -> bool:
        """True when ``ref`` was our snapshot (now stored)."""
        if self.in_flight is None or ref != self.in_flight.ref:
            return False
        self.in_flight = None
        self.since = 0
        self.made += 1
        self._settle(result=seq)
        return True

    def nacked(self, ref: int, reason: str) -> bool:
        if self.in_flight is None or ref != self.in_flight.ref:
            return False
        self.in_flight = None
        self._settle(exception=ProviderError(f"snapshot refused: {reason}"))
        return True

    def abandon(self) -> None:
        """The connection ended: a snapshot not acknowledged by then is simply made again later."""
        self.outgoing.clear()
        if self.in_flight is not None:
            self.in_flight = None
            self._settle(exception=ProviderError("connection lost before the snapshot was stored"))

    def _settle(self, *, result: int | None = None, exception: BaseException | None = None) -> None:
        done = self.done
        if done is None or done.done():
            return
        if exception is not None:
            done.set_exception(exception)
        elif result is not None:
            done.set_result(result)
