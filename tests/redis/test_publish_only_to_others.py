"""A hub publishes a room's entries only while another hub subscribes to the room: with room
affinity (every client of the room on one hub) the append is all the Redis work an update costs,
and a hub that joins the room later still gets every entry, old and new."""

from __future__ import annotations

import asyncio

import pycrdt
import redis.asyncio
import websockets.asyncio.client

from collab.protocol import yjs
from collab.redis.keys import room_key
from tests.support.hub_process import HubProcess
from tests.support.redis_server import RedisServer
from tests.support.waiting import eventually
from tests.support.yclient import pycrdt_client


async def test_entries_are_published_only_while_another_hub_has_the_room(
    two_hubs: tuple[HubProcess, HubProcess], redis_server: RedisServer,
) -> None:
    a, b = two_hubs
    room = "alone"
    doc: pycrdt.Doc[pycrdt.Text] = pycrdt.Doc()
    text = doc.get("code", type=pycrdt.Text)
    updates = []
    for i in range(100):
        before = doc.get_state()
        text += f"<{i}>"
        updates.append(doc.get_update(before))
    admin = redis.asyncio.Redis.from_url(redis_server.url)
    try:
        async with websockets.asyncio.client.connect(f"{a.ws_url}/ws/{room}") as writer:
            drain = asyncio.create_task(_drain(writer))
            published = await _publishes(admin)
            for update in updates[:50]:
                await writer.send(yjs.sync_update(update))
            await eventually(lambda: _head_is(admin, room, 50), timeout=20, what="hub a's 50 entries in Redis")
            assert await _publishes(admin) == published, "entries of a room no other hub has were published"

            async with pycrdt_client(f"{b.ws_url}/ws/{room}") as reader:
                read = reader.get("code", type=pycrdt.Text)
                first_half = "".join(f"<{i}>" for i in range(50))
                await eventually(lambda: str(read) == first_half, timeout=20)  # from the log, on join
                for update in updates[50:]:
                    await writer.send(yjs.sync_update(update))
                await eventually(lambda: str(read) == str(text), timeout=20)
                assert await _publishes(admin) > published, "hub b subscribes, yet nothing was published to it"
            drain.cancel()
    finally:
        await admin.aclose()


async def _drain(ws: websockets.asyncio.client.ClientConnection) -> None:
    async for _ in ws:
        pass


async def _publishes(admin: redis.asyncio.Redis) -> int:
    stats = await admin.info("commandstats")
    return int(stats.get("cmdstat_publish", {}).get("calls", 0))


async def _head_is(admin: redis.asyncio.Redis, room: str, head: int) -> bool:
    return int(await admin.get(room_key(room, "head")) or 0) == head
