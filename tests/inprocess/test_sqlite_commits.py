"""collab.store.sqlite with synchronous=NORMAL (the hub's default): small appends commit on the event
loop's thread, anything else on the store's thread, and the two never use the database at once.
What a user would notice if that went wrong: entries out of order or lost, a sequence number given
twice, or the WAL growing without bound."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from collab.store import sqlite as sqlite_store
from collab.store.sqlite import SQLiteStore


def stored(path: Path, room: str) -> list[tuple[int, bytes]]:
    """What another reader of the file sees (read-only, its own connection)."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return list(db.execute("SELECT seq, data FROM log WHERE room = ? ORDER BY seq", (room,)))


async def test_a_resolved_append_is_in_the_file(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "collab.db", synchronous="NORMAL")
    await store.open()
    try:
        for i in range(1, 4):
            assert await store.append("r", b"%d" % i) == i
            assert stored(store.path, "r")[-1] == (i, b"%d" % i)  # durable once acknowledged
    finally:
        await store.close()


async def test_appends_around_calls_on_the_thread_keep_their_order(tmp_path: Path) -> None:
    """Appends made while loads run on the store's thread (and large ones, which always go there)
    interleave with appends committed on the loop: every room's entries keep append order."""
    store = SQLiteStore(tmp_path / "collab.db", synchronous="NORMAL")
    await store.open()
    try:
        big = b"x" * (sqlite_store.HERE_MAX_BYTES + 1)
        futures: list[asyncio.Future[int]] = []
        expected: dict[str, list[bytes]] = {"a": [], "b": []}
        loads = []
        for i in range(200):
            room = "ab"[i % 2]
            data = big + b"%d" % i if i % 17 == 0 else b"%d" % i
            futures.append(store.append(room, data))
            expected[room].append(data)
            if i % 10 == 0:  # a call on the thread: the appends after it go there until it is done
                loads.append(asyncio.ensure_future(store.load("a")))
            if i % 7 == 0:
                await asyncio.sleep(0)  # let some passes of the loop commit what they have
        seqs = await asyncio.wait_for(asyncio.gather(*futures), 30)
        await asyncio.gather(*loads)
        assert seqs[0::2] == list(range(1, 101)) and seqs[1::2] == list(range(1, 101))
        for room in "ab":
            log = await store.load(room)
            assert [e.data for e in log.entries] == expected[room]
            assert [e.seq for e in log.entries] == list(range(1, 101))
    finally:
        await store.close()
    again = SQLiteStore(tmp_path / "collab.db", synchronous="NORMAL")
    await again.open()
    try:
        assert await again.append("a", b"after") == 101  # the heads were right on disk too
    finally:
        await again.close()


async def test_the_wal_is_checkpointed_by_the_thread(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "collab.db", synchronous="NORMAL")
    await store.open()
    wal = store.path.with_name(store.path.name + "-wal")
    try:
        for i in range(4 * sqlite_store.CHECKPOINT_EVERY):
            await store.append(f"room-{i % 20}", b"y" * 200)
        # Unchecked, each commit adds a page or two (4 kB each): 2,000 commits, 8-16 MB.
        assert wal.stat().st_size < 3 * sqlite_store.CHECKPOINT_EVERY * 4096
        with sqlite3.connect(f"file:{store.path}?mode=ro", uri=True) as db:
            assert db.execute("SELECT COUNT(*) FROM log").fetchone()[0] == 4 * sqlite_store.CHECKPOINT_EVERY
    finally:
        await store.close()
