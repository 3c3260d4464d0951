"""Compaction while two hubs write one room: each hub compacts from its own document where it has
applied every entry up to the snapshot's seq (no read-back), and nothing typed on either hub is
lost, for the clients there or for anyone who joins later from the snapshot."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pycrdt
import redis.asyncio

from collab.redis.keys import room_key
from tests.support.hub_process import start_hub
from tests.support.redis_server import RedisServer
from tests.support.waiting import eventually
from tests.support.yclient import pycrdt_client


async def test_two_hubs_compacting_one_room_lose_nothing(tmp_path: Path, redis_server: RedisServer) -> None:
    a = start_hub(tmp_path, "hub-a", redis_server.url, "--compact-after", "25")
    b = start_hub(tmp_path, "hub-b", redis_server.url, "--compact-after", "25")
    admin = redis.asyncio.Redis.from_url(redis_server.url)
    room = "compacting"
    expected = {f"<{w}:{n}>" for w in range(4) for n in range(60)}
    try:
        async with contextlib.AsyncExitStack() as stack:
            docs = [await stack.enter_async_context(pycrdt_client(f"{hub.ws_url}/ws/{room}")) for hub in (a, b, a, b)]
            texts = [doc.get("code", type=pycrdt.Text) for doc in docs]

            async def type_marks(w: int) -> None:
                for n in range(60):
                    texts[w] += f"<{w}:{n}>"
                    await asyncio.sleep(0.002)

            await asyncio.gather(*(type_marks(w) for w in range(4)))
            await eventually(lambda: all(set(_marks(str(t))) == expected for t in texts), timeout=30,
                             what="every mark on every client")
            snapshot_seq = int(await admin.hget(room_key(room, "snap"), "seq") or 0)
            assert snapshot_seq >= 25, "no compaction ran"
            assert await admin.xlen(room_key(room, "log")) < 240
        for hub in (a, b):  # the room unloads once idle; a newcomer loads it from the snapshot
            await asyncio.sleep(1.0)
            async with pycrdt_client(f"{hub.ws_url}/ws/{room}") as late:
                late_text = late.get("code", type=pycrdt.Text)
                await eventually(lambda: set(_marks(str(late_text))) == expected, timeout=15,
                                 what="every mark for a newcomer")
    finally:
        await admin.aclose()
        a.stop()
        b.stop()


def _marks(text: str) -> list[str]:
    return ["<" + part for part in text.split("<")[1:]]
