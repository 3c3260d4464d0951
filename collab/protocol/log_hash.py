"""Fork detection: a running hash of a room's log, the same on every client the hub shows the same log.

The hub numbers entries and could show members different logs (drop an author's whole session for
some, renumber the rest, serve a joiner an old snapshot with a prefix). Every client therefore folds
each entry, in hub seq order, into

    h(0) = 32 zero bytes
    h(n) = SHA-256("collab v1 log" || h(n-1) || u64 n || SHA-256(envelope n))

Snapshots and rotations carry their writer's h at the seq they cover (a joiner from a snapshot
starts from it; a client that holds the log checks it), and clients gossip (epoch, seq, h) in their
encrypted presence: two members with different h at the same seq were shown different logs. The
short ``code`` is what people compare out of band. The browser twin is web/src/crypto/loghash.ts.
Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import struct
from collections import OrderedDict

LABEL = b"collab v1 log"
ZERO = bytes(32)
KEEP = 4096  # recent hashes kept to compare with peers and snapshots


def fold(previous: bytes, seq: int, envelope: bytes) -> bytes:
    return _step(previous, seq, hashlib.sha256(envelope).digest())


def _step(previous: bytes, seq: int, inner: bytes) -> bytes:
    return hashlib.sha256(LABEL + previous + struct.pack(">Q", seq) + inner).digest()


def code(seq: int, digest: bytes) -> str:
    """What people read to each other: the seq and 8 hex digits, e.g. ``1234:9f3a-07c1``."""
    text = digest[:4].hex()
    return f"{seq}:{text[:4]}-{text[4:]}"


class LogHash:
    """One client's hash of the room's log: entries are folded once every earlier one has come."""

    def __init__(self) -> None:
        self.seq = 0  # h covers entries 1..seq
        self.digest = ZERO
        self._waiting: dict[int, bytes] = {}  # seq -> SHA-256 of its envelope, above a hole
        self._recent: OrderedDict[int, bytes] = OrderedDict({0: ZERO})
        # False after a snapshot that commits to no hash (made before fork detection): what we hold
        # then is not comparable with the others', so it is neither gossiped nor compared.
        self.anchored = True

    def entry(self, seq: int, envelope: bytes) -> None:
        """An entry as the hub numbered it (the first envelope heard under a seq counts)."""
        if seq <= self.seq or seq in self._waiting:
            return
        self._waiting[seq] = hashlib.sha256(envelope).digest()
        self._catch_up()

    def start_at(self, seq: int, digest: bytes | None) -> None:
        """A joiner from a snapshot covering ``seq``: the snapshot's writer's hash stands for 1..seq
        (None: the snapshot has none, and this hash is not comparable until the next one that has)."""
        if seq <= self.seq:
            return
        self.anchored = digest is not None
        self.seq, self.digest = seq, digest if digest is not None else ZERO
        self._recent.clear()
        self._waiting = {s: d for s, d in self._waiting.items() if s > seq}
        self._remember()
        self._catch_up()

    def at(self, seq: int) -> bytes | None:
        """Our hash at ``seq``, if we still remember it (and it is comparable)."""
        return self._recent.get(seq) if self.anchored else None

    @property
    def code(self) -> str:
        return code(self.seq, self.digest)

    def _catch_up(self) -> None:
        while self.seq + 1 in self._waiting:
            self.seq += 1
            self.digest = _step(self.digest, self.seq, self._waiting.pop(self.seq))
            self._remember()

    def _remember(self) -> None:
        self._recent[self.seq] = self.digest
        while len(self._recent) > KEEP:
            self._recent.popitem(last=False)
