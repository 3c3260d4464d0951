"""The embedded store: one SQLite file, written by one thread, with group commits.

Every append lands in a queue; a single writer thread commits whatever has queued up while the
previous commit was running, in one transaction. Under load that turns thousands of small updates
into a handful of fsyncs, and an idle hub still commits each update within one round trip.

The appends go straight onto the writer thread's queue (collab.store.worker_thread), which takes
every append queued back to back as one batch and settles the batch's futures with one callback
on the event loop. The generic group committer (collab.store.group_commit) would add a task on
the loop, woken through an event per batch, and a future per commit chained to the thread's.
Without it workload b (1,000 updates/s in, 1.2-1.4 entries per commit) cost the hub 211 us per
update against 239, and a commit 0.07-0.09 ms against 0.13-0.21 (bench/PROFILE.md); SQLite's own
work in one is 11-12 us of CPU.

Where a commit syncs nothing (synchronous OFF or NORMAL, the hub's default), small appends skip
the thread altogether and commit on the event loop, between its passes (``SQLiteStore.append``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import sqlite3
import stat
import sys
import time
from pathlib import Path
from typing import Any, Callable, TypeVar

if sys.platform != "win32":
    import fcntl

from collab.store.base import (
    EpochKeys,
    LogEntry,
    RoomExists,
    RoomInfo,
    RoomLog,
    SnapshotConflict,
    StoreUnavailable,
    pack_past,
    unpack_past,
)
from collab.store.group_commit import GroupCommitStore
from collab.store.worker_thread import WorkerThread

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS rooms (
    name TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    write_key BLOB,
    created_at REAL NOT NULL,
    read_key BLOB
);
CREATE TABLE IF NOT EXISTS log (
    room TEXT NOT NULL,
    seq INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (room, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS snapshots (
    room TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS epochs (
    room TEXT PRIMARY KEY,
    epoch INTEGER NOT NULL,
    write_key BLOB NOT NULL,
    read_key BLOB NOT NULL,
    rotation BLOB NOT NULL,
    past BLOB NOT NULL
);
"""

T = TypeVar("T")

# A commit of at most this many entries is one multi-row INSERT (3 parameters a row, well under
# SQLite's limit of 32,766); sqlite3 caches the statement of each size.
INSERT_ROWS_MAX = 32


# With synchronous=OFF or NORMAL (the hub's default) a commit writes to the WAL and syncs nothing, so
# small commits are made on the event loop's own thread (see SQLiteStore.append); larger entries,
# and everything while a call is on the store's thread, go to that thread.
HERE_MAX_BYTES = 64 * 1024
# A commit on the loop slower than this (a disk that has stopped absorbing writes: the kernel makes
# writers wait once too much is dirty) sends commits to the thread for HERE_PAUSE_S. It is wall
# time, so on a saturated machine a commit preempted midway can trip it too, which costs no more
# than the thread's hand-offs for a while (5 ms tripped in runs at load average 4 on 2 cores).
HERE_SLOW_S = 0.05
HERE_PAUSE_S = 10.0
# SQLite checkpoints the WAL into the database inside whichever commit passes 1,000 WAL pages,
# syncing both files: here automatic checkpoints are off and the thread runs one every so many
# commits (a small commit adds one or two pages).
CHECKPOINT_EVERY = 500


@functools.lru_cache(maxsize=INSERT_ROWS_MAX)
def _insert_rows(n: int) -> str:
    return "INSERT INTO log (room, seq, data) VALUES " + ", ".join(["(?, ?, ?)"] * n)


class SQLiteStore(GroupCommitStore):
    def __init__(self, path: Path, *, synchronous: str = "FULL") -> None:
        self.path = path
        self.synchronous = synchronous
        # Every call on the database, in order; appends queued back to back commit as one batch.
        self._thread = WorkerThread("collab-sqlite", batch=self._commit_batch)
        self._db: sqlite3.Connection | None = None
        self._queued = 0  # appends not settled yet
        self._closing = False
        # Commits on the loop (synchronous OFF / NORMAL): the appends of this pass of the loop, the
        # calls and batches on the thread not settled yet (none may run while the loop uses the
        # database), and until when the loop leaves commits to the thread after a slow one.
        self._here_ok = synchronous.upper() in ("OFF", "NORMAL")
        self._here: list[tuple[str, bytes, asyncio.Future[int]]] | None = None
        self._on_thread = 0
        self._here_paused_until = 0.0
        self._commits = 0  # since the last checkpoint
        # Only touched by whoever uses the database: the thread, or the loop while nothing is on the thread.
        self._heads: dict[str, int] = {}
        self._lock_fd: int | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    async def open(self) -> None:
        # Room logs are private to the hub's user: a data directory the hub creates is 0700, and
        # the database file (which SQLite's -wal and -shm files copy their mode from) is 0600.
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._lock()
        try:
            self._make_private()
            await self._run(self._open_db)
        except sqlite3.Error as exc:
            self._unlock()
            raise StoreUnavailable(f"cannot open {self.path}: {exc}") from exc
        except BaseException:
            self._unlock()
            raise

    def _make_private(self) -> None:
        """Create the database file 0600, and take group and other access off files made before."""
        os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
        for path in (self.path, *(self.path.with_name(self.path.name + end) for end in ("-wal", "-shm", ".lock"))):
            try:
                mode = stat.S_IMODE(path.stat().st_mode)
            except FileNotFoundError:
                continue
            if mode & 0o077:
                os.chmod(path, mode & 0o700)
                log.info("%s was readable by other users (mode %o): now %o", path, mode, mode & 0o700)

    def _lock(self) -> None:
        """One hub per database file: two processes would hand out the same sequence numbers.

        SQLite's own locking keeps the file consistent but not our per-room heads, which each hub
        caches in memory; the second hub's commits fail and its clients drift apart.
        """
        if sys.platform == "win32":
            return  # no flock: one hub per data directory is then up to the user
        path = self.path.with_name(self.path.name + ".lock")
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise StoreUnavailable(
                f"{self.path.parent} is in use by another collab hub (pid {holder}); "
                "give each hub its own --data, or share rooms with --redis"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._lock_fd = fd

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing releases the flock
            self._lock_fd = None

    def _open_db(self) -> None:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={self.synchronous}")
        db.execute("PRAGMA busy_timeout=5000")
        if self._here_ok:
            db.execute("PRAGMA wal_autocheckpoint=0")  # checkpoints run on the thread (CHECKPOINT_EVERY)
        db.executescript(SCHEMA)
        columns = {row[1] for row in db.execute("PRAGMA table_info(rooms)")}
        if "read_key" not in columns:  # a database from before reader keys: its rooms keep none
            db.execute("ALTER TABLE rooms ADD COLUMN read_key BLOB")
        self._db = db

    async def close(self) -> None:
        if not self._closing:
            self._closing = True
            self._here_to_thread()
            await self._run(lambda: None)  # runs after every append queued so far has committed
        if self._db is not None:
            await self._run(self._db.close)
            self._db = None
        self._thread.stop()
        self._unlock()

    async def _run(self, fn: Callable[..., T], *args: object) -> T:
        fut = self._thread.run(fn, *args)
        self._on_thread += 1
        fut.add_done_callback(self._thread_call_done)
        # Shielded: a caller that stops waiting (ping's timeout) must not count the call as done
        # while the thread may still be running it.
        return await asyncio.shield(fut)

    def _thread_call_done(self, fut: asyncio.Future[Any]) -> None:
        self._on_thread -= 1
        if not fut.cancelled():
            fut.exception()  # retrieved: a caller that stopped waiting would leave it unreported

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise StoreUnavailable("store is not open")
        return self._db

    async def ping(self) -> None:
        try:
            await asyncio.wait_for(self._run(lambda: self.db.execute("SELECT 1").fetchone()), 2.0)
        except Exception as exc:  # any failure means "not healthy"
            raise StoreUnavailable(str(exc)) from exc

    # -- rooms -----------------------------------------------------------------------------------

    async def create_room(self, info: RoomInfo) -> None:
        def insert() -> None:
            try:
                self.db.execute(
                    "INSERT INTO rooms (name, kind, write_key, created_at, read_key) VALUES (?, ?, ?, ?, ?)",
                    (info.name, info.kind, info.write_key, info.created_at or time.time(), info.read_key),
                )
            except sqlite3.IntegrityError as exc:
                raise RoomExists(info.name) from exc

        await self._run(insert)

    async def room_info(self, name: str) -> RoomInfo | None:
        row = await self._run(
            lambda: self.db.execute(
                "SELECT name, kind, write_key, created_at, read_key FROM rooms WHERE name = ?", (name,)
            ).fetchone()
        )
        return RoomInfo(row[0], row[1], row[2], row[3], row[4]) if row else None

    # -- log -------------------------------------------------------------------------------------

    def append(self, room: str, data: bytes) -> asyncio.Future[int]:
        """Queue ``data``; its future resolves once it is committed.

        With synchronous OFF or NORMAL a commit is a write into the WAL (no fsync), a few
        microseconds of SQLite's work; handing it to the store's thread and back cost more than that
        (its wake-up, the GIL passed back and forth with the loop, the loop's wake-up): in workload b
        commits made here cost the hub 175-203 us per update against 217-230 (bench/PROFILE.md). So the
        appends of one pass of the loop are committed together by a callback queued behind them,
        on the loop, unless something runs on the thread (the database is used by one side at a
        time: a pending batch then joins the thread's queue, in order), the entry is large, or a
        recent commit here was slow.
        """
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[int] = loop.create_future()
        if self._closing:
            fut.set_exception(StoreUnavailable("store is closing"))
            return fut
        self._queued += 1
        if self._here_ok and len(data) <= HERE_MAX_BYTES and self._on_thread == 0 and self._db is not None:
            if self._here is None:
                if loop.time() < self._here_paused_until:
                    self._to_thread((room, data, fut))
                    return fut
                self._here = []
                loop.call_soon(self._commit_here)
            self._here.append((room, data, fut))
            return fut
        self._here_to_thread()
        self._to_thread((room, data, fut))
        return fut

    @property
    def pending(self) -> int:
        return self._queued

    def _to_thread(self, item: tuple[str, bytes, asyncio.Future[int]]) -> None:
        if self._thread.put_batched(item):
            self._on_thread += 1
        else:
            self._queued -= 1
            item[2].set_exception(StoreUnavailable("store is closing"))

    def _here_to_thread(self) -> None:
        """Hand the appends waiting for this pass's commit to the thread (queued before anything else)."""
        batch, self._here = self._here, None
        for item in batch or ():
            self._to_thread(item)

    def _commit_here(self) -> None:
        if self._here is None:  # handed to the thread meanwhile
            return
        if self._on_thread:  # a call was queued on the thread since: the batch follows it there
            self._here_to_thread()
            return
        batch, self._here = self._here, None
        started = time.perf_counter()
        seqs, error = self._commit(batch)
        elapsed = time.perf_counter() - started
        if elapsed > HERE_SLOW_S:
            log.warning("a store commit took %.1f ms on the event loop: commits go to the store's thread for %.0f s",
                        1000 * elapsed, HERE_PAUSE_S)
            self._here_paused_until = asyncio.get_running_loop().time() + HERE_PAUSE_S
        self._settle(batch, seqs, error, started, on_thread=False)

    def _commit(self, batch: list[tuple[str, bytes, asyncio.Future[int]]]) -> tuple[list[int] | None, Exception | None]:
        """Write ``batch`` (on the loop or the thread, whichever runs this): its seqs, or the error."""
        try:
            return self._write_batch([(room, data) for room, data, _ in batch]), None
        except Exception as exc:
            log.error("store commit of %d entries failed: %s", len(batch), exc)
            self._heads.clear()
            return None, exc

    def _checkpoint(self) -> None:
        self.db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()

    def _commit_batch(self, batch: list[tuple[str, bytes, asyncio.Future[int]]]) -> None:
        """On the writer thread: commit ``batch`` in one transaction, then settle its futures on the loop."""
        started = time.perf_counter()
        seqs, error = self._commit(batch)
        try:
            batch[0][2].get_loop().call_soon_threadsafe(self._settle, batch, seqs, error, started)
        except RuntimeError:  # the loop is closed: nothing awaits these futures any more
            pass

    def _settle(
        self, batch: list[tuple[str, bytes, asyncio.Future[int]]], seqs: list[int] | None,
        error: Exception | None, started: float, on_thread: bool = True,
    ) -> None:
        self._queued -= len(batch)
        if on_thread:
            self._on_thread -= len(batch)
        if self._here_ok and seqs is not None:
            self._commits += 1
            if self._commits >= CHECKPOINT_EVERY and not self._closing:
                self._commits = 0
                checkpoint = self._thread.run(self._checkpoint)
                self._on_thread += 1
                checkpoint.add_done_callback(self._checkpoint_done)
        if seqs is None:
            for _, _, fut in batch:
                if not fut.done():
                    fut.set_exception(StoreUnavailable(f"commit failed: {error}"))
            return
        self._observe(started, len(batch))
        for (_, _, fut), seq in zip(batch, seqs):
            if not fut.done():
                fut.set_result(seq)

    def _checkpoint_done(self, fut: asyncio.Future[None]) -> None:
        self._on_thread -= 1
        exc = fut.exception()
        if exc is not None:
            log.warning("WAL checkpoint failed: %s", exc)

    def _head(self, room: str) -> int:
        head = self._heads.get(room)
        if head is None:
            row = self.db.execute(
                "SELECT MAX(s) FROM (SELECT MAX(seq) AS s FROM log WHERE room = ?"
                " UNION ALL SELECT seq FROM snapshots WHERE room = ?)",
                (room, room),
            ).fetchone()
            head = row[0] or 0
            self._heads[room] = head  # every write goes through this thread and keeps it current
        return head

    def _write_batch(self, items: list[tuple[str, bytes]]) -> list[int]:
        db = self.db
        seqs: list[int] = []
        rows: list[tuple[str, int, bytes]] = []
        heads: dict[str, int] = {}
        for room, data in items:
            head = heads.get(room)
            if head is None:
                head = self._head(room)
            head += 1
            heads[room] = head
            seqs.append(head)
            rows.append((room, head, data))
        if len(rows) <= INSERT_ROWS_MAX:
            # One statement, its own transaction (autocommit): atomic like BEGIN ... COMMIT, and one
            # call into SQLite instead of three, each of which lets go of the GIL and takes it back
            # (a contended hand-off with the event loop's thread).
            db.execute(_insert_rows(len(rows)), [value for row in rows for value in row])
        else:
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany("INSERT INTO log (room, seq, data) VALUES (?, ?, ?)", rows)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        self._heads.update(heads)
        return seqs

    async def load(self, room: str, since: int = 0) -> RoomLog:
        def read() -> RoomLog:
            db = self.db
            result = RoomLog()
            snap = db.execute("SELECT seq, data FROM snapshots WHERE room = ?", (room,)).fetchone()
            start = since
            if snap is not None and snap[0] > since:
                result.snapshot, result.snapshot_seq = snap[1], snap[0]
                start = snap[0]
            result.entries = [
                LogEntry(seq, data)
                for seq, data in db.execute(
                    "SELECT seq, data FROM log WHERE room = ? AND seq > ? ORDER BY seq", (room, start)
                )
            ]
            return result

        return await self._run(read)

    async def compact(self, room: str, snapshot: bytes, upto: int, *, expect_head: int | None = None) -> None:
        def write() -> None:
            db = self.db
            db.execute("BEGIN IMMEDIATE")
            try:
                if expect_head is not None:
                    head = self._head(room)
                    if upto != expect_head or head != expect_head:
                        raise SnapshotConflict(f"snapshot covers {upto}, head is {head}")
                current = db.execute("SELECT seq FROM snapshots WHERE room = ?", (room,)).fetchone()
                if current is not None and current[0] >= upto:
                    db.execute("ROLLBACK")
                    return
                db.execute(
                    "INSERT OR REPLACE INTO snapshots (room, seq, data) VALUES (?, ?, ?)", (room, upto, snapshot)
                )
                db.execute("DELETE FROM log WHERE room = ? AND seq <= ?", (room, upto))
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise

        await self._run(write)

    async def head(self, room: str) -> int:
        """The room's last seq: cached once known, else MAX(seq) of its log and snapshot (indexed)."""
        return int(await self._run(self._head, room))

    async def entry_count(self, room: str) -> int:
        row = await self._run(lambda: self.db.execute("SELECT COUNT(*) FROM log WHERE room = ?", (room,)).fetchone())
        return int(row[0])

    # -- key epochs (encrypted rooms after a rotation) -------------------------------------------

    async def epoch_keys(self, room: str) -> EpochKeys | None:
        row = await self._run(
            lambda: self.db.execute(
                "SELECT epoch, write_key, read_key, rotation, past FROM epochs WHERE room = ?", (room,)
            ).fetchone()
        )
        return None if row is None else EpochKeys(row[0], row[1], row[2], row[3], unpack_past(row[4]))

    async def rotate(self, room: str, keys: EpochKeys, *, expect_head: int) -> None:
        def write() -> None:
            db = self.db
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute("SELECT epoch FROM epochs WHERE room = ?", (room,)).fetchone()
                current = row[0] if row else 0
                head = self._head(room)  # on the writer thread: no append can land in between
                if keys.epoch != current + 1 or head != expect_head:
                    raise SnapshotConflict(f"rotation to epoch {keys.epoch} after {expect_head}: the room is at epoch {current}, head {head}")
                db.execute(
                    "INSERT OR REPLACE INTO epochs (room, epoch, write_key, read_key, rotation, past) VALUES (?, ?, ?, ?, ?, ?)",
                    (room, keys.epoch, keys.write_key, keys.read_key, keys.rotation, pack_past(keys.past)),
                )
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise

        await self._run(write)

