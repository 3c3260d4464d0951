"""RedisStore and RedisBroker against a real redis-server, in process: the Store contract, the
compaction that cannot drop what a hub has not heard yet, and catch-up of what pub/sub missed."""

from __future__ import annotations

import asyncio
from typing import AsyncIterator

import pycrdt
import pytest

from collab.broker.redis import RedisBroker
from collab.hub.room import replay
from collab.protocol import relay
from collab.redis.keys import room_key
from collab.store.base import RoomExists, RoomInfo, SnapshotConflict, StoreUnavailable
from collab.store.redis import RedisStore
from tests.support.redis_server import RedisServer
from tests.support.waiting import eventually


@pytest.fixture
async def store(redis_server: RedisServer) -> AsyncIterator[RedisStore]:
    s = RedisStore(redis_server.url, merge=replay)
    await s.open()
    try:
        yield s
    finally:
        await s.close()


def typing(text: str) -> list[bytes]:
    doc = pycrdt.Doc()
    t = doc.get("code", type=pycrdt.Text)
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    for ch in text:
        t += ch
    return updates


def text_of(state: bytes) -> str:
    doc = pycrdt.Doc()
    doc.apply_update(state)
    return str(doc.get("code", type=pycrdt.Text))


async def test_seqs_count_up_per_room_and_rooms_are_registered_once(store: RedisStore) -> None:
    await store.create_room(RoomInfo("r", "encrypted", b"k" * 32, 1.5))
    with pytest.raises(RoomExists):
        await store.create_room(RoomInfo("r", "plaintext"))
    assert await store.room_info("r") == RoomInfo("r", "encrypted", b"k" * 32, 1.5)
    assert await store.room_info("missing") is None
    await store.create_room(RoomInfo("keyed", "encrypted", b"k" * 32, 2.5, b"r" * 32))
    assert await store.room_info("keyed") == RoomInfo("keyed", "encrypted", b"k" * 32, 2.5, b"r" * 32)
    seqs = await asyncio.gather(*(store.append("r", b"%d" % i) for i in range(1200)), store.append("other", b"x"))
    assert list(seqs) == [*range(1, 1201), 1]
    assert (await store.head("r"), await store.head("other"), await store.head("missing")) == (1200, 1, 0)
    log = await store.load("r", since=1100)
    assert [e.seq for e in log.entries] == list(range(1101, 1201)) and log.entries[0].data == b"1100"


async def test_client_snapshots_are_compare_and_swap(store: RedisStore) -> None:
    for i in range(5):
        await store.append("e", b"envelope %d" % i)
    with pytest.raises(SnapshotConflict):
        await store.compact("e", b"stale", 4, expect_head=4)
    await store.append("e", b"envelope 5")
    await store.compact("e", b"snapshot", 6, expect_head=6)
    log = await store.load("e")
    assert (log.snapshot, log.snapshot_seq, log.entries) == (b"snapshot", 6, [])
    assert await store.entry_count("e") == 0
    assert await store.head("e") == 6  # the snapshot keeps the head
    assert await store.append("e", b"envelope 6") == 7 and await store.head("e") == 7


async def test_compaction_keeps_entries_the_compacting_hub_had_not_heard(store: RedisStore) -> None:
    updates = typing("hello world")
    for u in updates:
        await store.append("p", u)
    # This hub's document lacks the last five keystrokes (still on their way from another hub).
    partial = replay_updates(updates[:-5])
    await store.compact("p", partial, len(updates))
    log = await store.load("p")
    assert log.snapshot_seq == len(updates) and log.entries == []
    assert log.snapshot is not None and text_of(log.snapshot) == "hello world"


def replay_updates(updates: list[bytes]) -> bytes:
    doc = pycrdt.Doc()
    for u in updates:
        doc.apply_update(u)
    return doc.get_update()


async def test_one_compactor_at_a_time(store: RedisStore) -> None:
    updates = typing("abc")
    for u in updates:
        await store.append("lease", u)
    await store.redis.set(room_key("lease", "lease"), "another hub", px=60_000)
    await store.compact("lease", replay_updates(updates), 3)
    assert await store.entry_count("lease") == 3  # left to the lease holder
    await store.redis.delete(room_key("lease", "lease"))
    await store.compact("lease", replay_updates(updates), 3)
    assert await store.entry_count("lease") == 0


async def test_appends_fail_fast_while_redis_is_down_and_work_again_after(
    redis_server: RedisServer, store: RedisStore
) -> None:
    assert await store.append("down", b"one") == 1
    redis_server.kill()
    with pytest.raises(StoreUnavailable):
        await store.append("down", b"two")
    with pytest.raises(StoreUnavailable):
        await store.ping()
    redis_server.start()
    await eventually(lambda: answers(store), timeout=10, interval=0.05, what="redis answering again")
    assert await store.append("down", b"three") == 2
    assert [e.data for e in (await store.load("down")).entries] == [b"one", b"three"]


async def answers(store: RedisStore) -> bool:
    try:
        await store.ping()
    except StoreUnavailable:
        return False
    return True


async def test_broker_reads_back_what_pub_sub_never_carried(redis_server: RedisServer, store: RedisStore) -> None:
    listener = RedisBroker(redis_server.url, tick=0.05)
    await listener.start()
    got: list[relay.RelayMessage] = []
    try:
        await listener.subscribe("gap", lambda data: got.append(relay.decode_relay(data)))
        # Another hub stored two entries and died before publishing either: only the stream has them.
        await store.append("gap", b"lost 1")
        await store.append("gap", b"lost 2")
        await eventually(lambda: [m.payload for m in got] == [b"lost 1", b"lost 2"], timeout=10)
        assert [m.seq for m in got] == [1, 2]
        # A relay that skips a seq: the hole is filled from the stream.
        seq3 = await store.append("gap", b"never published")
        seq4 = await store.append("gap", b"published")
        other = RedisBroker(redis_server.url)
        await other.start()
        try:
            other.publish("gap", relay.encode_relay(relay.UPDATE, b"h" * 16, seq4, b"published"))
            await eventually(lambda: {m.payload for m in got} >= {b"never published", b"published"}, timeout=10)
        finally:
            await other.close()
        assert seq3 in {m.seq for m in got}
        assert listener.caught_up >= 3
    finally:
        await listener.close()
