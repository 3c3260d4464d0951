"""The SQLite store: its head (what an encrypted room learns on load without reading its log), its one thread."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import AsyncIterator

import pytest

from collab.store.base import RoomInfo, SnapshotConflict
from collab.store.sqlite import SQLiteStore


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    s = SQLiteStore(tmp_path / "collab.db")
    await s.open()
    try:
        yield s
    finally:
        await s.close()


async def test_head_follows_appends_and_compaction(store: SQLiteStore) -> None:
    assert await store.head("empty") == 0
    seqs = await asyncio.gather(*(store.append("r", b"%d" % i) for i in range(50)), store.append("other", b"x"))
    assert seqs[-2:] == [50, 1]
    assert (await store.head("r"), await store.head("other")) == (50, 1)
    await store.compact("r", b"snapshot", 50, expect_head=50)
    assert await store.entry_count("r") == 0
    assert await store.head("r") == 50  # the snapshot keeps the head: seqs never go back
    with pytest.raises(SnapshotConflict):
        await store.compact("r", b"stale", 49, expect_head=49)
    assert await store.append("r", b"next") == 51
    assert await store.head("r") == 51


async def test_head_survives_a_restart(tmp_path: Path) -> None:
    """A fresh process has no cached heads: it reads them back, from the log or the snapshot alone."""
    first = SQLiteStore(tmp_path / "collab.db")
    await first.open()
    for i in range(7):
        await first.append("logged", b"%d" % i)
        await first.append("compacted", b"%d" % i)
    await first.compact("compacted", b"snapshot", 7)
    await first.close()
    again = SQLiteStore(tmp_path / "collab.db")
    await again.open()
    try:
        assert (await again.head("logged"), await again.head("compacted")) == (7, 7)
        assert await again.append("compacted", b"after") == 8
        log = await again.load("compacted")
        assert (log.snapshot_seq, [e.seq for e in log.entries], log.head) == (7, [8], await again.head("compacted"))
    finally:
        await again.close()


async def test_a_database_from_before_reader_keys_gains_the_column_and_keeps_its_rooms(tmp_path: Path) -> None:
    path = tmp_path / "collab.db"
    old = sqlite3.connect(path)  # the rooms table as released before reader keys
    old.executescript(
        "CREATE TABLE rooms (name TEXT PRIMARY KEY, kind TEXT NOT NULL, write_key BLOB, created_at REAL NOT NULL);"
        "INSERT INTO rooms VALUES ('old', 'encrypted', x'" + "11" * 32 + "', 1.5);"
    )
    old.commit()
    old.close()
    store = SQLiteStore(path)
    await store.open()
    try:
        # An old room has no reader key, so the hub keeps admitting its readers without one.
        assert await store.room_info("old") == RoomInfo("old", "encrypted", b"\x11" * 32, 1.5, None)
        await store.create_room(RoomInfo("new", "encrypted", b"\x22" * 32, 2.5, b"\x33" * 32))
    finally:
        await store.close()
    reopened = SQLiteStore(path)
    await reopened.open()
    try:
        assert await reopened.room_info("new") == RoomInfo("new", "encrypted", b"\x22" * 32, 2.5, b"\x33" * 32)
    finally:
        await reopened.close()


async def test_every_call_gets_its_outcome_in_order_and_none_after_close(tmp_path: Path) -> None:
    """The store's one thread (collab.store.worker_thread): appends from many rooms each resolve to
    their seq, a failing database call fails only its caller, and after close a call fails at once
    rather than hanging."""
    store = SQLiteStore(tmp_path / "hub.db")
    await store.open()
    appends = [store.append(f"room-{i % 7}", b"\x00\x00") for i in range(500)]
    seqs = await asyncio.gather(*appends)
    assert [seqs[i] for i in range(0, 500, 7)] == list(range(1, 73))
    with pytest.raises(sqlite3.OperationalError):
        await store._run(store.db.execute, "SELECT * FROM no_such_table")
    assert await store.head("room-0") == 72
    await store.close()
    with pytest.raises(RuntimeError):
        await store._run(lambda: None)
