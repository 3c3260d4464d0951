"""Rooms load once on first join and unload after room_idle_seconds with nobody connected; a join
that arrives while a room is loading or unloading gets that same room, which stays."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import httpx
import pycrdt
from starlette.applications import Starlette

from collab.broker.memory import MemoryBroker, MemoryBus
from collab.protocol import close_codes, relay
from tests.support.asgi import Closed, http, scrape
from tests.support.inprocess import GatedStore, YClient, hub_app, sqlite_store, yclient
from tests.support.waiting import eventually

IDLE = 0.5  # room_idle_seconds of these hubs


async def rooms_loaded(client: httpx.AsyncClient) -> float:
    return (await scrape(client))["collab_rooms_loaded"]


async def unloaded(client: httpx.AsyncClient) -> bool:
    return await rooms_loaded(client) == 0


async def test_a_room_unloads_after_the_idle_time_and_loads_again_from_the_store(tmp_path: Path) -> None:
    store = GatedStore(sqlite_store(tmp_path))
    async with hub_app(tmp_path, store=store, room_idle_seconds=IDLE) as app, http(app) as client:
        async with yclient(app, "idle") as ada, yclient(app, "idle") as bob:
            await ada.type("kept in the store")
            await bob.read_until("kept in the store")
            leaving = asyncio.get_running_loop().time()
        assert await rooms_loaded(client) == 1
        await eventually(lambda: unloaded(client), timeout=10, interval=0.01, what="the room unloaded")
        assert asyncio.get_running_loop().time() - leaving >= IDLE, "unloaded before room_idle_seconds"
        assert store.loads == 1
        async with yclient(app, "idle") as again:
            await again.read_until("kept in the store")
        assert store.loads == 2


async def test_a_join_within_the_idle_time_keeps_the_loaded_room(tmp_path: Path) -> None:
    store = GatedStore(sqlite_store(tmp_path))
    async with hub_app(tmp_path, store=store, room_idle_seconds=IDLE) as app, http(app) as client:
        typed = ""
        for i in range(5):  # each comes back well within the idle time
            async with yclient(app, "busy") as someone:
                await someone.read_until(typed)
                typed += f"<{i}>"
                await someone.type(f"<{i}>")
                await _stored(app, someone)
        assert store.loads == 1
        assert await rooms_loaded(client) == 1


async def test_joins_during_a_load_wait_for_that_one_load(tmp_path: Path) -> None:
    store = GatedStore(sqlite_store(tmp_path))
    async with hub_app(tmp_path, store=store, room_idle_seconds=IDLE) as app, http(app) as client:
        await written_and_unloaded(app, client, "shared", "hello")
        store.load_gate.clear()
        asked = store.infos
        joins = [asyncio.create_task(_join_and_read(app, "shared", "hello")) for _ in range(3)]
        await eventually(lambda: store.infos == asked + 3, timeout=10, what="three joins acquiring the room")
        assert store.loads == 2  # the first join started the load; the others wait for it
        store.load_gate.set()
        await asyncio.wait_for(asyncio.gather(*joins), 10)
        assert store.loads == 2


async def test_a_room_whose_load_failed_is_loaded_again_by_the_next_join(tmp_path: Path) -> None:
    store = GatedStore(sqlite_store(tmp_path))
    async with hub_app(tmp_path, store=store, room_idle_seconds=IDLE) as app, http(app) as client:
        await written_and_unloaded(app, client, "flaky", "written before the outage")
        store.fail_loads = True
        async with yclient(app, "flaky") as refused:
            try:
                while True:
                    await refused.read()
            except Closed as closed:
                assert closed.code == close_codes.TRY_AGAIN
        store.fail_loads = False
        async with yclient(app, "flaky") as bob:
            await bob.read_until("written before the outage")


async def test_a_join_while_the_room_unloads_keeps_it_listening_to_other_hubs(tmp_path: Path) -> None:
    store = GatedStore(sqlite_store(tmp_path))
    bus = MemoryBus()
    other_hub = MemoryBroker(bus)  # another hub on the same bus: what it publishes reaches this hub
    async with hub_app(tmp_path, store=store, broker=MemoryBroker(bus), room_idle_seconds=IDLE) as app, \
            http(app) as client:
        async with yclient(app, "race") as ada:
            await ada.type("hello")
            await _stored(app, ada)
            store.compact_gate.clear()
        await asyncio.wait_for(store.compacting.wait(), 10)  # idle time over: the unload has begun
        async with yclient(app, "race") as bob:
            await bob.read_until("hello")
            store.compact_gate.set()  # the unload goes on with bob in the room
            await asyncio.wait_for(store.compacted.wait(), 10)  # and is over
            update = typed_elsewhere(bob, " from hub b")
            other_hub.publish("race", relay.encode_relay(relay.UPDATE, os.urandom(16), 2, update))
            await bob.read_until("hello from hub b")
            await asyncio.sleep(IDLE * 2)  # deliberately past the idle time: bob is still here
            assert await rooms_loaded(client) == 1
            await bob.type("!")
            await _stored(app, bob)
        async with yclient(app, "race") as late:
            await late.read_until("hello from hub b!")


def typed_elsewhere(replica: YClient, chars: str) -> bytes:
    """The update that appends ``chars`` on another replica of ``replica``'s document."""
    doc: pycrdt.Doc[Any] = pycrdt.Doc()
    doc.apply_update(replica.doc.get_update())
    before = doc.get_state()
    text = doc.get("code", type=pycrdt.Text)
    text += chars
    return doc.get_update(before)


async def written_and_unloaded(app: Starlette, client: httpx.AsyncClient, room: str, text: str) -> None:
    """``text`` typed into ``room`` and stored, then the room left idle until it unloaded."""
    async with yclient(app, room) as writer:
        await writer.type(text)
        await _stored(app, writer)
    await eventually(lambda: unloaded(client), timeout=10, what="the room unloaded")


async def _join_and_read(app: Starlette, room: str, text: str) -> None:
    async with yclient(app, room) as client:
        await client.read_until(text)


async def _stored(app: Starlette, writer: YClient) -> None:
    """Wait until what ``writer`` typed is in the room (a second client sees it)."""
    async with yclient(app, writer.ws.path.rsplit("/", 1)[1]) as check:
        await check.read_until(str(writer.text))
