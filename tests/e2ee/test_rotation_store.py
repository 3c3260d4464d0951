"""Both stores keep a room's rotated keys the same way: a rotation is taken only at the head it names
and as the next epoch (compare-and-swap, atomic with appends), and survives a reopen."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from collab.hub.room import replay
from collab.store.base import EpochKeys, RoomInfo, SnapshotConflict
from collab.store.redis import RedisStore
from tests.support.inprocess import sqlite_store
from tests.support.redis_server import RedisServer

ROOM = "AAAAAAAAAAAAAAAAAAAAAA"


def keys(epoch: int, past: int) -> EpochKeys:
    return EpochKeys(epoch, bytes([epoch]) * 32, bytes([epoch + 100]) * 32, b"rotation %d" % epoch,
                     tuple((bytes([e]) * 32, None if e == 0 else bytes([e + 100]) * 32) for e in range(past)))


async def _contract(store: Any) -> None:
    await store.create_room(RoomInfo(ROOM, "encrypted", bytes(32), read_key=bytes(32)))
    assert await store.epoch_keys(ROOM) is None
    for _ in range(3):
        await store.append(ROOM, b"entry")
    with pytest.raises(SnapshotConflict):
        await store.rotate(ROOM, keys(1, 1), expect_head=2)  # the head moved on
    with pytest.raises(SnapshotConflict):
        await store.rotate(ROOM, keys(2, 2), expect_head=3)  # not the next epoch
    await store.rotate(ROOM, keys(1, 1), expect_head=3)
    assert await store.epoch_keys(ROOM) == keys(1, 1)
    with pytest.raises(SnapshotConflict):
        await store.rotate(ROOM, keys(1, 1), expect_head=3)  # a second rotation to the same epoch
    await store.append(ROOM, b"entry 4")
    await store.rotate(ROOM, keys(2, 2), expect_head=4)
    assert await store.epoch_keys(ROOM) == keys(2, 2)


async def test_sqlite(tmp_path: Path) -> None:
    store = sqlite_store(tmp_path)
    await store.open()
    try:
        await _contract(store)
    finally:
        await store.close()
    again = sqlite_store(tmp_path)
    await again.open()
    try:
        assert await again.epoch_keys(ROOM) == keys(2, 2)
    finally:
        await again.close()


async def test_redis(redis_server: RedisServer) -> None:
    store = RedisStore(redis_server.url, merge=replay)
    await store.open()
    try:
        await _contract(store)
    finally:
        await store.close()
