"""The store's own lean connection for its append script (collab.redis.script_link), against a
real redis-server: it logs in and picks the URL's database, survives Redis forgetting the script,
and an append that was not answered is never acknowledged."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio

from collab.hub.room import replay
from collab.redis.keys import room_key
from collab.store.base import StoreUnavailable
from collab.store.redis import RedisStore
from tests.support.redis_server import RedisServer


async def test_appends_carry_on_after_the_script_cache_is_flushed(redis_server: RedisServer) -> None:
    store = RedisStore(redis_server.url, merge=replay)
    await store.open()
    try:
        assert await store.append("flush", b"one") == 1
        redis_server.cli("SCRIPT", "FLUSH")
        # One commit of two rooms and two entries each, every call answered NOSCRIPT first.
        futures = [store.append(room, data) for room in ("flush", "other") for data in (b"two", b"three")]
        assert await asyncio.gather(*futures) == [2, 3, 1, 2]
        assert [e.data for e in (await store.load("flush")).entries] == [b"one", b"two", b"three"]
        assert [e.data for e in (await store.load("other")).entries] == [b"two", b"three"]
    finally:
        await store.close()


async def test_the_url_password_and_database_are_used(redis_server: RedisServer) -> None:
    redis_server.cli("CONFIG", "SET", "requirepass", "s3cret")
    url = f"redis://:s3cret@127.0.0.1:{redis_server.port}/2"
    store = RedisStore(url, merge=replay)
    await store.open()
    admin = redis.asyncio.Redis.from_url(url)
    try:
        assert await store.append("auth", b"one") == 1
        assert await store.append("auth", b"two") == 2
        assert int(await admin.get(room_key("auth", "head"))) == 2
    finally:
        await admin.aclose()
        await store.close()
    other = redis.asyncio.Redis.from_url(f"redis://:s3cret@127.0.0.1:{redis_server.port}/0")
    try:
        assert await other.get(room_key("auth", "head")) is None
    finally:
        await other.aclose()


async def test_an_append_redis_does_not_answer_in_time_fails_and_the_next_one_works(
    redis_server: RedisServer,
) -> None:
    store = RedisStore(redis_server.url, merge=replay, op_timeout=0.5)
    await store.open()
    try:
        assert await store.append("slow", b"one") == 1
        # Writes paused for 1.5 s: the append's reply comes too late to acknowledge it.
        redis_server.cli("CLIENT", "PAUSE", "1500", "WRITE")
        with pytest.raises(StoreUnavailable):
            await store.append("slow", b"two")
        await asyncio.sleep(1.2)
        seq = await store.append("slow", b"three")
        # "two" may have been appended after all (Redis ran it once it woke): it was not
        # acknowledged, which is all a writer relies on; nothing is appended twice.
        entries = [e.data for e in (await store.load("slow")).entries]
        assert entries in ([b"one", b"three"], [b"one", b"two", b"three"])
        assert seq == len(entries)
    finally:
        await store.close()
