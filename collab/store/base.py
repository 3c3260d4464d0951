"""The Store interface: a durable, append-only log per room plus one snapshot that covers a prefix.

Entries are opaque bytes: Yjs updates in plaintext rooms, sealed envelopes in encrypted ones.
A store assigns each entry a sequence number (1, 2, 3, ... per room). ``append`` resolves only when
the entry is durable; that moment is the hub's acknowledgement.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Callable, Literal, Protocol

RoomKind = Literal["plaintext", "encrypted"]


class StoreUnavailable(RuntimeError):
    """The store cannot make writes durable right now (disk error, Redis down, ...)."""


class RoomExists(RuntimeError):
    pass


class SnapshotConflict(RuntimeError):
    """A snapshot named a head that is not the room's current head (compare-and-swap failed)."""


@dataclass(frozen=True, slots=True)
class RoomInfo:
    name: str
    kind: RoomKind
    write_key: bytes | None = None  # Ed25519 public key of encrypted rooms' writers
    created_at: float = 0.0
    # Ed25519 public key of encrypted rooms' readers (every member): None for rooms created before
    # reader keys, which admit readers without a signature.
    read_key: bytes | None = None


@dataclass(frozen=True, slots=True)
class EpochKeys:
    """An encrypted room's keys after a rotation (docs/e2ee.md, "Rotation"): public keys only.

    A room never rotated has none: its RoomInfo keys are epoch 0's."""

    epoch: int
    write_key: bytes
    read_key: bytes
    rotation: bytes  # the rotation envelope that started this epoch (sent to members on join)
    past: tuple[tuple[bytes, bytes | None], ...]  # (write key, reader key) of epochs 0 .. epoch-1


def pack_past(past: tuple[tuple[bytes, bytes | None], ...]) -> bytes:
    """Earlier epochs' public keys as 64-byte records (a missing reader key as 32 zero bytes)."""
    return b"".join(write + (read or bytes(32)) for write, read in past)


def unpack_past(data: bytes) -> tuple[tuple[bytes, bytes | None], ...]:
    records = [data[i : i + 64] for i in range(0, len(data), 64)]
    return tuple((r[:32], None if r[32:] == bytes(32) else r[32:]) for r in records)


@dataclass(frozen=True, slots=True)
class LogEntry:
    seq: int
    data: bytes


@dataclass(slots=True)
class RoomLog:
    snapshot: bytes | None = None
    snapshot_seq: int = 0
    entries: list[LogEntry] = field(default_factory=list)

    @property
    def head(self) -> int:
        return self.entries[-1].seq if self.entries else self.snapshot_seq


# Compaction of a plaintext room in a shared store: one update that covers everything in ``RoomLog``
# (its snapshot and entries). Stores do not know Yjs; the hub hands them its merge (runs in a thread).
Merge = Callable[["RoomLog"], bytes]

# Called after each group commit with its duration in seconds and its number of entries.
CommitObserver = Callable[[float, int], None]


class Store(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None:
        """Flush everything accepted so far, then release resources."""
        ...

    async def ping(self) -> None:
        """Raise StoreUnavailable unless the store answers now."""
        ...

    def set_commit_observer(self, observer: CommitObserver | None) -> None:
        """Report every group commit to ``observer`` (metrics), or stop reporting with None."""
        ...

    async def create_room(self, info: RoomInfo) -> None:
        """Register a room; raise RoomExists if the name is taken."""
        ...

    async def room_info(self, name: str) -> RoomInfo | None: ...

    def append(self, room: str, data: bytes) -> asyncio.Future[int]:
        """Queue ``data`` for the room's log. The future resolves to its sequence number once durable,
        or fails with StoreUnavailable. Futures of one room resolve in append order."""
        ...

    async def load(self, room: str, since: int = 0) -> RoomLog:
        """The snapshot (if it covers more than ``since``) and every entry after it / after ``since``."""
        ...

    async def compact(self, room: str, snapshot: bytes, upto: int, *, expect_head: int | None = None) -> None:
        """Store ``snapshot`` as covering entries 1..upto and drop those entries.
        With ``expect_head`` the snapshot is accepted only if ``upto`` equals it and it is still the
        room's head (SnapshotConflict otherwise): how encrypted rooms accept client snapshots."""
        ...

    async def epoch_keys(self, room: str) -> EpochKeys | None:
        """The room's keys since its last rotation; None for a room never rotated."""
        ...

    async def rotate(self, room: str, keys: EpochKeys, *, expect_head: int) -> None:
        """Swap in ``keys`` (epoch: the current one + 1) only if the head is still ``expect_head``
        and no other rotation came first (SnapshotConflict otherwise); atomic with appends."""
        ...

    async def entry_count(self, room: str) -> int:
        """Number of log entries not covered by the snapshot (for metrics, tests and compaction)."""
        ...

    async def head(self, room: str) -> int:
        """The room's last sequence number (0 for an empty or unknown room), without reading the log:
        what an encrypted room needs on load, whose clients replay the log themselves."""
        ...
