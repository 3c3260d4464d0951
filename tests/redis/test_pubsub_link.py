"""The broker's lean pub/sub connection (collab.redis.pubsub_link) against a real redis-server:
a connection Redis drops is noticed and the room subscribed again, and one that goes silent is
found out by its health check."""

from __future__ import annotations

import asyncio
import os

import pytest

from collab.broker.redis import RedisBroker
from collab.protocol import relay
from collab.redis.keys import channel
from collab.redis.pubsub_link import PubSubLink
from tests.support.redis_server import RedisServer
from tests.support.waiting import eventually


async def test_a_pub_sub_connection_redis_drops_is_subscribed_again(redis_server: RedisServer) -> None:
    listener = RedisBroker(redis_server.url, tick=0.05)
    other = RedisBroker(redis_server.url)
    await listener.start()
    await other.start()
    got: list[bytes] = []
    try:
        await listener.subscribe("dropped", lambda data: got.append(relay.decode_relay(data).payload))
        other.publish("dropped", relay.encode_relay(relay.AWARENESS, os.urandom(16), 0, b"before"))
        await eventually(lambda: got == [b"before"], timeout=10, what="the first message")
        assert redis_server.cli("CLIENT", "KILL", "TYPE", "pubsub").strip() == "1"

        async def heard_after() -> bool:
            other.publish("dropped", relay.encode_relay(relay.AWARENESS, os.urandom(16), 0, b"after"))
            await asyncio.sleep(0.1)
            return b"after" in got

        await eventually(heard_after, timeout=15, interval=0.1, what="a message after the drop")
    finally:
        await other.close()
        await listener.close()


async def test_a_silent_pub_sub_connection_is_found_out_by_its_health_check(redis_server: RedisServer) -> None:
    lost: list[PubSubLink] = []
    link = PubSubLink(redis_server.url, sharded=False, deliver=lambda c, d: None, lost=lost.append,
                      health_s=0.3, answer_s=0.5)
    try:
        await link.add(channel("silent"))
        await asyncio.sleep(1.0)
        assert not lost, "a connection that answers its PINGs was given up"
        redis_server.cli("CLIENT", "PAUSE", "3000", "ALL")  # Redis answers nothing meanwhile
        await eventually(lambda: lost == [link], timeout=2.5, what="the silent connection given up")
        assert link.dead
        with pytest.raises(Exception):
            await link.add(channel("another"))
    finally:
        await link.close()
