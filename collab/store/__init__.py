"""Durable room logs: the Store interface and its implementations."""

from collab.store.base import LogEntry, RoomInfo, RoomLog, Store, StoreUnavailable, RoomExists, SnapshotConflict

__all__ = ["LogEntry", "RoomInfo", "RoomLog", "Store", "StoreUnavailable", "RoomExists", "SnapshotConflict"]
