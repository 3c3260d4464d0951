"""What a client dropped instead of applying, remembered and logged within bounds.

Anyone who knows an encrypted room's id can connect as a reader and have the hub relay junk
presence to every member: 20,000 junk frames once gave 20,000 stderr lines in `collab join` and a
list that only grew (issue 13, finding 11). So the newest few are kept, the rest only counted, and
each peer gets at most one log line per interval, which says how many more it sent meanwhile.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable

log = logging.getLogger(__name__)

KEEP = 100  # rejections kept for inspection (tests, `rejected`); older ones are only counted
LOG_INTERVAL_S = 30.0
MAX_PEERS = 64  # peers whose log timing is remembered
MAX_LINES = 10  # lines per interval, all peers together


@dataclass(frozen=True, slots=True)
class Rejection:
    """An envelope or presence state that failed verification and was dropped."""

    seq: int | None  # the hub's sequence number; None for presence
    kind: str  # update | snapshot | awareness | unknown
    error: str  # exception class: TamperedEnvelope, ReplayedEnvelope, PresenceError, ...
    message: str


@dataclass(slots=True)
class _Peer:
    logged_at: float
    quiet: int = 0  # dropped since its last line


class Rejections:
    def __init__(self, label: str, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.label = label
        self.recent: list[Rejection] = []  # the newest KEEP or so, oldest first
        self.total = 0
        self._clock = clock
        self._peers: dict[str, _Peer] = {}
        self._window = -LOG_INTERVAL_S  # start of the interval the line budget counts in
        self._lines = 0
        self._quiet = 0  # dropped without a line because the budget was spent

    def add(self, rejection: Rejection, peer: str) -> None:
        self.total += 1
        self.recent.append(rejection)
        if len(self.recent) > 2 * KEEP:  # trimmed in batches: one slice per KEEP additions
            del self.recent[:-KEEP]
        now = self._clock()
        state = self._peers.get(peer)
        if state is not None and now - state.logged_at < LOG_INTERVAL_S:
            state.quiet += 1
            return
        if now - self._window >= LOG_INTERVAL_S:
            self._window, self._lines = now, 0
        if self._lines >= MAX_LINES:
            self._quiet += 1  # many peers at once (a stranger cycling connections): counted only
            return
        self._lines += 1
        notes = []
        if state is not None and state.quiet:
            notes.append(f"{state.quiet:,} more from it in the last {now - state.logged_at:.0f} s")
        if self._quiet:
            notes.append(f"{self._quiet:,} more from others not logged")
            self._quiet = 0
        self._peers.pop(peer, None)
        if len(self._peers) >= MAX_PEERS:
            del self._peers[next(iter(self._peers))]
        self._peers[peer] = _Peer(now)
        seq = f" (seq {rejection.seq})" if rejection.seq is not None else ""
        more = f" ({'; '.join(notes)})" if notes else ""
        log.warning("%s: dropped %s%s from %s: %s: %s%s", self.label, rejection.kind, seq, peer, rejection.error,
                    rejection.message, more)
