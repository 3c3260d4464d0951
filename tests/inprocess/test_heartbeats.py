"""Hub heartbeats (collab.broker.heartbeat) against a private redis-server: a hub whose heartbeat
is gone is reported lost after two checks in a row miss it, never after one, and only once."""

from __future__ import annotations

import os
from typing import AsyncIterator

import pytest
from redis.asyncio import Redis

from collab.broker.heartbeat import Heartbeats
from tests.support.redis_server import RedisServer
from tests.support.waiting import eventually

TTL_MS = 200


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_server.url)
    try:
        yield client
    finally:
        await client.aclose()


def hub(lost: list[bytes] | None = None) -> Heartbeats:
    beats = Heartbeats(TTL_MS)
    beats.own_id = os.urandom(16)
    if lost is not None:
        beats.on_lost = lost.append
    return beats


async def expired(redis: Redis) -> None:
    """Wait until every heartbeat key has run out (the only keys in this private server)."""
    await eventually(lambda: _empty(redis), timeout=5, what="heartbeat key expired")


async def _empty(redis: Redis) -> bool:
    return await redis.dbsize() == 0


async def test_a_hub_that_stops_beating_is_lost_after_the_second_missed_check(redis: Redis) -> None:
    lost: list[bytes] = []
    watcher, other = hub(lost), hub()
    await other.beat(redis)
    watcher.heard(other.own_id)  # type: ignore[arg-type]
    await watcher.check(redis)
    assert lost == []
    await expired(redis)  # the other hub stopped beating (kill -9): its key runs out
    await watcher.check(redis)
    assert lost == [], "one missed check must not be enough"
    await watcher.check(redis)
    assert lost == [other.own_id]
    await watcher.check(redis)
    assert lost == [other.own_id], "reported once"


async def test_a_beat_between_two_misses_starts_the_count_over(redis: Redis) -> None:
    lost: list[bytes] = []
    watcher, other = hub(lost), hub()
    watcher.heard(other.own_id)  # type: ignore[arg-type]
    await watcher.check(redis)  # heard before its first heartbeat was written: one miss
    await other.beat(redis)
    await watcher.check(redis)
    await expired(redis)
    await watcher.check(redis)
    assert lost == []
    await watcher.check(redis)
    assert lost == [other.own_id]


async def test_a_clean_stop_is_noticed_without_waiting_for_the_ttl(redis: Redis) -> None:
    lost: list[bytes] = []
    watcher, other = hub(lost), hub()
    other.ttl_ms = 60_000
    await other.beat(redis)
    watcher.heard(other.own_id)  # type: ignore[arg-type]
    await watcher.check(redis)
    await other.stop(redis)
    await watcher.check(redis)
    await watcher.check(redis)
    assert lost == [other.own_id]


async def test_a_hub_never_takes_itself_for_lost(redis: Redis) -> None:
    lost: list[bytes] = []
    watcher = hub(lost)
    watcher.heard(watcher.own_id)  # type: ignore[arg-type]  # its own messages, echoed back by Redis
    for _ in range(3):
        await watcher.check(redis)
    assert lost == []
