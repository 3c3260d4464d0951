"""Durable room logs: the Store interface and its implementations."""

from collab.store.base import (
    CommitObserver,
    LogEntry,
    Merge,
    RoomExists,
    RoomInfo,
    RoomLog,
    SnapshotConflict,
    Store,
    StoreUnavailable,
)

__all__ = [
    "CommitObserver", "LogEntry", "Merge", "RoomExists", "RoomInfo", "RoomLog", "SnapshotConflict", "Store", "StoreUnavailable",
]
