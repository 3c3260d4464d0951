"""The Redis store's commits without a task (collab.store.group_commit.PassCommitter over
collab.redis.script_link), against a real redis-server: the appends of one pass of the loop go as
one commit and those made while it is in flight as the next, close() commits what is queued, an
append Redis does not answer fails by its deadline, and one whose connection is killed fails while
the next append works."""

from __future__ import annotations

import asyncio
import time

import pytest

from collab.hub.replay import replay
from collab.store.base import StoreUnavailable
from collab.store.redis import RedisStore
from tests.support.redis_server import RedisServer


async def test_one_pass_is_one_commit_and_appends_during_it_go_together_next(redis_server: RedisServer) -> None:
    store = RedisStore(redis_server.url, merge=replay)
    await store.open()
    commits: list[int] = []
    store.set_commit_observer(lambda seconds, entries: commits.append(entries))
    try:
        first = [store.append(f"pass{i % 3}", b"a%d" % i) for i in range(10)]
        await asyncio.sleep(0)  # the commit of those ten is written and in flight now
        assert store.pending == 0
        second = [store.append(f"pass{i % 3}", b"b%d" % i) for i in range(5)]
        await asyncio.sleep(0)
        assert store.pending == 5  # waiting for the commit in flight: one at a time
        seqs = await asyncio.gather(*first, *second)
        assert commits == [10, 5]
        # Each room's seqs in the order its appends came.
        assert seqs == [1, 1, 1, 2, 2, 2, 3, 3, 3, 4] + [5, 4, 4, 6, 5]
        for i in range(3):
            entries = [e.data for e in (await store.load(f"pass{i}")).entries]
            assert entries == [b"a%d" % j for j in range(i, 10, 3)] + [b"b%d" % j for j in range(i, 5, 3)]
    finally:
        await store.close()


async def test_close_commits_what_is_queued_and_refuses_what_comes_after(redis_server: RedisServer) -> None:
    store = RedisStore(redis_server.url, merge=replay)
    await store.open()
    assert await store.append("closing", b"one") == 1
    queued = [store.append("closing", b"two"), store.append("closing", b"three")]
    closing = asyncio.ensure_future(store.close())
    await asyncio.sleep(0)
    late = store.append("closing", b"late")
    await closing
    assert [f.result() for f in queued] == [2, 3]
    with pytest.raises(StoreUnavailable):
        late.result()
    again = RedisStore(redis_server.url, merge=replay)
    await again.open()
    try:
        assert [e.data for e in (await again.load("closing")).entries] == [b"one", b"two", b"three"]
    finally:
        await again.close()


async def test_an_unanswered_append_fails_by_its_deadline(redis_server: RedisServer) -> None:
    store = RedisStore(redis_server.url, merge=replay, op_timeout=0.4)
    await store.open()
    try:
        assert await store.append("late", b"one") == 1
        await asyncio.sleep(0.25)  # the link's one timer is armed for the first append's deadline
        redis_server.cli("CLIENT", "PAUSE", "3000", "WRITE")
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            await store.append("late", b"two")
        elapsed = time.monotonic() - started
        assert 0.35 <= elapsed < 1.5, elapsed  # by its own deadline: not the first's, nor Redis' pause
    finally:
        redis_server.cli("CLIENT", "UNPAUSE")
        await store.close()


async def test_an_append_whose_connection_is_killed_fails_and_the_next_works(redis_server: RedisServer) -> None:
    store = RedisStore(redis_server.url, merge=replay)
    await store.open()
    try:
        assert await store.append("killed", b"one") == 1
        redis_server.cli("CLIENT", "PAUSE", "1000", "WRITE")
        doomed = store.append("killed", b"two")
        await asyncio.sleep(0.2)  # written, waiting for its reply
        redis_server.cli("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
        with pytest.raises(StoreUnavailable):
            await doomed
        redis_server.cli("CLIENT", "UNPAUSE")
        await asyncio.sleep(0.1)  # past the store's first backoff after an outage
        seq = await store.append("killed", b"three")
        entries = [e.data for e in (await store.load("killed")).entries]
        assert entries == [b"one", b"three"]
        assert seq == 2
    finally:
        await store.close()
