"""collab.store.group_commit: appends that queue during a commit go out together in the next one;
every future gets an outcome; a failing commit fails its batch, not the store; order holds per room."""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path

import pytest

from collab.store.base import RoomInfo, StoreUnavailable
from collab.store.group_commit import GroupCommitter, Pending
from tests.support.inprocess import sqlite_store


class Log:
    """A commit function over an in-memory log: numbers each room's entries 1, 2, 3, ... in batch
    order, can be held at the start of a commit, and can be told to fail the next one."""

    def __init__(self) -> None:
        self.batches: list[list[tuple[str, bytes]]] = []
        self.heads: dict[str, int] = {}
        self.committing = asyncio.Event()
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail_next = False

    async def commit(self, batch: list[Pending]) -> None:
        self.batches.append([(room, data) for room, data, _ in batch])
        self.committing.set()
        await self.gate.wait()
        if self.fail_next:
            self.fail_next = False
            raise OSError("disk I/O error")
        for room, _, fut in batch:
            self.heads[room] = self.heads.get(room, 0) + 1
            fut.set_result(self.heads[room])


async def committer(log: Log) -> GroupCommitter:
    appends = GroupCommitter(log.commit, "test-group-commit")
    appends.start()
    return appends


async def test_an_idle_append_commits_alone_and_resolves_to_its_seq() -> None:
    log = Log()
    appends = await committer(log)
    assert await asyncio.wait_for(appends.append("a", b"1"), 5) == 1
    assert await asyncio.wait_for(appends.append("a", b"2"), 5) == 2
    assert log.batches == [[("a", b"1")], [("a", b"2")]]
    await appends.close()


async def test_appends_made_during_a_commit_go_together_in_the_next_one() -> None:
    log = Log()
    appends = await committer(log)
    log.gate.clear()
    first = appends.append("a", b"1")
    await asyncio.wait_for(log.committing.wait(), 5)
    later = [appends.append(room, data) for room, data in [("a", b"2"), ("b", b"1"), ("a", b"3"), ("c", b"1")]]
    assert appends.pending == 4  # queued, not committed one by one
    log.gate.set()
    assert await asyncio.wait_for(asyncio.gather(first, *later), 5) == [1, 2, 1, 3, 1]
    assert log.batches == [[("a", b"1")], [("a", b"2"), ("b", b"1"), ("a", b"3"), ("c", b"1")]]
    await appends.close()


async def test_a_failing_commit_fails_its_batch_with_store_unavailable_and_the_next_one_commits() -> None:
    log = Log()
    appends = await committer(log)
    log.gate.clear()
    log.fail_next = True
    doomed = [appends.append("a", b"1"), appends.append("b", b"1")]
    log.gate.set()
    for fut in doomed:
        with pytest.raises(StoreUnavailable, match="disk I/O error"):
            await asyncio.wait_for(fut, 5)
    assert await asyncio.wait_for(appends.append("a", b"again"), 5) == 1  # the writer loop survived
    await appends.close()


async def test_a_commit_that_resolved_some_futures_before_failing_keeps_their_results() -> None:
    async def half_then_fail(batch: list[Pending]) -> None:
        batch[0][2].set_result(1)
        raise RuntimeError("bug after the first entry")

    appends = GroupCommitter(half_then_fail, "test-group-commit")
    first, second = appends.append("a", b"1"), appends.append("a", b"2")
    appends.start()
    assert await asyncio.wait_for(first, 5) == 1
    with pytest.raises(StoreUnavailable):
        await asyncio.wait_for(second, 5)
    await appends.close()


async def test_close_commits_everything_queued_and_later_appends_fail_at_once() -> None:
    log = Log()
    appends = await committer(log)
    log.gate.clear()
    queued = [appends.append("a", bytes([i])) for i in range(5)]
    closing = asyncio.create_task(appends.close())
    log.gate.set()
    await asyncio.wait_for(closing, 5)
    assert [f.result() for f in queued] == [1, 2, 3, 4, 5]
    late = appends.append("a", b"late")
    assert late.done()
    with pytest.raises(StoreUnavailable):
        late.result()


async def test_a_real_store_resolves_each_rooms_futures_in_append_order(tmp_path: Path) -> None:
    store = sqlite_store(tmp_path)
    await store.open()
    try:
        rooms = ["r0", "r1", "r2"]
        for room in rooms:
            await store.create_room(RoomInfo(room, "plaintext"))
        resolved: dict[str, list[int]] = {room: [] for room in rooms}

        def record(seqs: list[int], fut: asyncio.Future[int]) -> None:
            seqs.append(fut.result())

        futures = []
        for i in range(300):  # no await in between: they pile up behind the first commit
            room = rooms[i % 3]
            fut = store.append(room, f"{room}:{i}".encode())
            fut.add_done_callback(functools.partial(record, resolved[room]))
            futures.append(fut)
        await asyncio.wait_for(asyncio.gather(*futures), 30)
        for room in rooms:
            assert resolved[room] == list(range(1, 101))
            log = await store.load(room)
            assert [e.data for e in log.entries] == [f"{room}:{i}".encode() for i in range(rooms.index(room), 300, 3)]
    finally:
        await store.close()
