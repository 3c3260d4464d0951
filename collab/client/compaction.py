"""Compaction for an encrypted room: a writer seals the whole document as a snapshot now and then.

After ``every`` updates (ours acknowledged, or others' applied) a writer that holds exactly the
hub's entries 1..N (nothing of ours in flight, no holes) seals the document with the replay
guard's heads as a snapshot covering N; the hub swaps it in for those entries, so a later joiner
reads one envelope instead of the whole log.

The hub deletes what a snapshot covers, so none is made while anything is missing (an update held
behind its author's gap, a hole in the hub's seqs) or was rejected (``collab.client.room_log``):
it would say that what this copy lacks was seen, and the only other copy would go (issue 21).
That is said once in the log each time it starts holding a due snapshot back.

The hub closes a connection whose frame is over its limit (close TOO_BIG; issue 13, finding 5:
past ~8 MiB of document the automatic snapshot did that, and the writer stopped for good with its
edits unsent). So a snapshot whose SNAPSHOT frame would be over the frame limit goes as
SNAPSHOT_PART frames of at most the limit each (docs/protocol.md, "Snapshots of any size"). The
limit starts at the hub's default; a TOO_BIG close that a snapshot caused halves it (parts at most
half that frame's size from then on), and is not final. Only a snapshot over the hub's
``--max-snapshot-bytes`` default is skipped (said once in the log): the hub would refuse it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

import pycrdt

from collab.client.provider import ProviderError
from collab.config import Settings
from collab.crypto.epochs import Keyring
from collab.protocol import relay_frames as frames
from collab.protocol.envelope import PREFIX_SIZE, SIGNATURE_SIZE, TAG_SIZE, seal_snapshot
from collab.protocol.replay_guard import ReplayGuard
from collab.protocol.snapshot import encode_snapshot

log = logging.getLogger(__name__)

HUB_FRAME_LIMIT = Settings.max_frame_bytes  # the hub's default --max-frame-bytes
HUB_SNAPSHOT_LIMIT = Settings.max_snapshot_bytes  # the hub's default --max-snapshot-bytes (the envelope)
MIN_FRAME_LIMIT = 64 * 1024  # halving after TOO_BIG stops here: parts smaller than this are no hub's limit
_ENVELOPE_OVERHEAD = PREFIX_SIZE + TAG_SIZE + SIGNATURE_SIZE  # the envelope around the plaintext
_FRAME_OVERHEAD = 9  # SNAPSHOT type and ref


@dataclass(slots=True)
class _InFlight:
    ref: int
    size: int  # bytes of its largest frame (the SNAPSHOT, or its first SNAPSHOT_PART)


class Compactor:
    def __init__(
        self,
        keyring: Keyring,
        author_id: bytes,
        doc: pycrdt.Doc[Any],
        guard: ReplayGuard,
        *,
        every: int,
        frame_limit: int | None,
        label: str,
        log_hash: Callable[[int], bytes | None] = lambda seq: None,
    ) -> None:
        self.keyring = keyring  # snapshots are sealed under the current epoch's keys
        self.author_id = author_id
        self.doc = doc
        self.guard = guard
        self.every = every
        self.frame_limit = frame_limit if frame_limit is not None else HUB_FRAME_LIMIT
        self.label = label
        self.log_hash = log_hash  # our running hash of the log at a seq (fork detection)
        self.since = 0  # updates since the last snapshot
        self.made = 0  # snapshots the hub acknowledged
        self.skipped = 0  # snapshots not sent because they were over the hub's snapshot limit
        self.parted = 0  # snapshots sent as SNAPSHOT_PART frames
        self.outgoing: deque[bytes] = deque()  # sent once, on the current connection only
        self.in_flight: _InFlight | None = None
        self.done: asyncio.Future[int] | None = None  # what compact() waits on
        self._seq = 0
        self._said_too_big = False
        self._said_blocked = False

    def allowed(self, blocked: str | None) -> bool:
        """False when ``blocked`` names what stops a snapshot (said once per spell of it)."""
        if blocked is None:
            self._said_blocked = False
            return True
        if not self._said_blocked:
            self._said_blocked = True
            log.warning("%s: no snapshot while %s; the hub keeps the whole log meanwhile", self.label, blocked)
        return False

    def counted(self) -> bool:
        """One more update; True when a snapshot is due."""
        self.since += 1
        return self.since >= self.every

    def make(self, ref: int, covers: int) -> bool:
        """Queue a snapshot of the document covering entries up to ``covers``; False when it is too big."""
        plaintext = encode_snapshot(self.doc.get_update(), self.guard.export(), self.log_hash(covers))
        size = _ENVELOPE_OVERHEAD + len(plaintext)
        if size > HUB_SNAPSHOT_LIMIT:
            self._skip(size)
            return False
        self._seq += 1
        envelope = seal_snapshot(self.keyring.current, self.author_id, self._seq, covers, plaintext)
        if _FRAME_OVERHEAD + len(envelope) <= self.frame_limit:
            parts = [frames.snapshot(ref, envelope)]
        else:
            parts = frames.snapshot_parts(ref, envelope, self.frame_limit)
            self.parted += 1
        self.in_flight = _InFlight(ref, max(len(p) for p in parts))
        self.outgoing.extend(parts)
        return True

    def _skip(self, size: int) -> None:
        self.since = 0  # measured again after another ``every`` updates, not at each one
        self.skipped += 1
        if not self._said_too_big:
            self._said_too_big = True
            log.warning(
                "%s: no snapshot: the document sealed is %s bytes, over the hub's snapshot limit of %s bytes; "
                "edits are still sent, and joiners read the room's log instead",
                self.label, f"{size:,}", f"{HUB_SNAPSHOT_LIMIT:,}",
            )
        self._settle(exception=ProviderError(f"the snapshot ({size:,} bytes) is over the hub's snapshot limit"))

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

    def caused_too_big(self, largest_edit_sent: int) -> bool:
        """After a TOO_BIG close: whether our snapshot in flight was the frame over the hub's limit.

        It was if its largest frame is at least as large as every edit sent on that connection (a
        smaller one the hub had already read). Then the next snapshot goes in parts of at most half
        that frame's size (the hub's limit is not known, only that this frame was over it).
        """
        if self.in_flight is None or self.in_flight.size < largest_edit_sent:
            return False
        size = self.in_flight.size
        self.frame_limit = max(min(self.frame_limit, size // 2), min(MIN_FRAME_LIMIT, size - 1))
        self.in_flight = None
        self.since = 0  # made again after another ``every`` updates, in smaller parts
        log.warning("%s: the hub refused a %s-byte snapshot frame; the next one goes in parts of at most %s bytes",
                    self.label, f"{size:,}", f"{self.frame_limit:,}")
        self._settle(exception=ProviderError(f"the hub closed the connection: a snapshot frame of {size:,} bytes is over its frame limit"))
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
