"""Two hubs on one Redis serve one room: concurrent editors converge, joiners see everything,
and the presence of a dead hub's clients disappears."""

from __future__ import annotations

import asyncio
import contextlib

import pycrdt
import redis.asyncio
import websockets.asyncio.client

from collab.protocol import relay, yjs
from collab.redis.bundle import unbundle
from collab.redis.keys import channel
from tests.support.hub_process import HubProcess
from tests.support.redis_server import RedisServer
from tests.support.yclient import pycrdt_client, pycrdt_session
from tests.support.waiting import eventually


async def test_ten_clients_on_two_hubs_converge_and_joiners_see_everything(
    two_hubs: tuple[HubProcess, HubProcess],
) -> None:
    a, b = two_hubs
    urls = [f"{hub.ws_url}/ws/shared" for hub in (a, b)]
    async with contextlib.AsyncExitStack() as stack:
        docs = [await stack.enter_async_context(pycrdt_client(urls[i % 2])) for i in range(10)]
        texts = [doc.get("code", type=pycrdt.Text) for doc in docs]

        async def type_lines(i: int) -> None:
            for n in range(20):
                texts[i] += f"<{i}:{n}>"
                await asyncio.sleep(0)

        await asyncio.gather(*(type_lines(i) for i in range(10)))
        expected_marks = {f"<{i}:{n}>" for i in range(10) for n in range(20)}
        await eventually(lambda: all(set(_marks(str(t))) == expected_marks for t in texts), timeout=30)
        final = str(texts[0])
        assert all(str(t) == final for t in texts)
        for url in urls:
            async with pycrdt_client(url) as late:
                late_text = late.get("code", type=pycrdt.Text)
                await eventually(lambda: str(late_text) == final)


def _marks(text: str) -> list[str]:
    return ["<" + part for part in text.split("<")[1:]]


async def test_presence_crosses_hubs_and_goes_when_a_hub_dies(two_hubs: tuple[HubProcess, HubProcess]) -> None:
    a, b = two_hubs
    async with pycrdt_session(f"{a.ws_url}/ws/presence") as watcher:
        async with pycrdt_session(f"{b.ws_url}/ws/presence") as typist:
            await typist.set_presence({"user": {"name": "bea", "color": "#f00", "colorLight": "#fcc"}})
            peer = typist.doc.client_id
            await eventually(lambda: peer in watcher.awareness.states, timeout=10)
            b.kill()
            # No goodbye from a killed hub: its heartbeat expires and hub a drops bea's presence.
            await eventually(lambda: peer not in watcher.awareness.states, timeout=15)


async def test_a_burst_reaches_the_other_hub_once_per_entry_in_bundles(
    two_hubs: tuple[HubProcess, HubProcess], redis_server: RedisServer,
) -> None:
    """Entries go to other hubs from the store's append script, each commit's entries of a room
    as one pub/sub message (collab.redis.bundle): every seq exactly once, in order, and the
    reader on the other hub gets the whole text."""
    a, b = two_hubs
    room = "burst"
    listener = redis.asyncio.Redis.from_url(redis_server.url)
    pubsub = listener.pubsub()
    await pubsub.subscribe(channel(room))
    heard: list[bytes] = []

    async def listen() -> None:
        async for message in pubsub.listen():
            if message["type"] == "message":
                heard.append(message["data"])

    listening = asyncio.create_task(listen())
    doc: pycrdt.Doc[pycrdt.Text] = pycrdt.Doc()
    text = doc.get("code", type=pycrdt.Text)
    updates = []
    for i in range(300):
        before = doc.get_state()
        text += f"<{i}>"
        updates.append(doc.get_update(before))
    try:
        async with pycrdt_client(f"{b.ws_url}/ws/{room}") as reader, \
                websockets.asyncio.client.connect(f"{a.ws_url}/ws/{room}") as writer:
            read = reader.get("code", type=pycrdt.Text)
            for update in updates:
                await writer.send(yjs.sync_update(update))
            await eventually(lambda: str(read) == str(text), timeout=30)
        await eventually(lambda: len([m for data in heard for m in unbundle(data)]) >= 300, timeout=10)
        entries = [relay.decode_relay(m) for data in heard for m in unbundle(data)]
        seqs = [e.seq for e in entries if e.kind == relay.UPDATE]
        assert seqs == list(range(1, 301))
        assert len(heard) < 300, "no commit of several entries went out as one bundle"
    finally:
        listening.cancel()
        await pubsub.aclose()  # type: ignore[no-untyped-call]
        await listener.aclose()


async def test_rooms_opened_all_at_once_all_load_and_hear_the_other_hub(
    two_hubs: tuple[HubProcess, HubProcess],
) -> None:
    """25 rooms (the default cap is 30 new rooms a minute per address) opened at the same moment
    on one hub each subscribe on its one pub/sub link: every one loads (none is refused with 1013)
    and then hears what the other hub's clients write."""
    a, b = two_hubs
    rooms = [f"together-{i}" for i in range(25)]

    async def join(room: str) -> websockets.asyncio.client.ClientConnection:
        ws = await websockets.asyncio.client.connect(f"{b.ws_url}/ws/{room}", compression=None)
        await ws.send(yjs.sync_step1(pycrdt.Doc().get_state()))
        while True:  # a refused room closes instead: recv raises
            message = yjs.parse_message(await _recv(ws))
            if isinstance(message, yjs.SyncMessage) and message.kind == yjs.SyncType.STEP2:
                return ws

    readers = await asyncio.gather(*(join(room) for room in rooms))
    try:
        async with pycrdt_client(f"{a.ws_url}/ws/{rooms[-1]}") as writer:
            writer.get("code", type=pycrdt.Text).insert(0, "from hub a")
            seen: pycrdt.Doc[pycrdt.Text] = pycrdt.Doc()
            while str(seen.get("code", type=pycrdt.Text)) != "from hub a":
                message = yjs.parse_message(await _recv(readers[-1]))
                if isinstance(message, yjs.SyncMessage) and message.kind == yjs.SyncType.UPDATE:
                    seen.apply_update(message.payload)
    finally:
        await asyncio.gather(*(ws.close() for ws in readers), return_exceptions=True)


async def _recv(ws: websockets.asyncio.client.ClientConnection) -> bytes:
    data = await asyncio.wait_for(ws.recv(), 20)
    assert isinstance(data, bytes)
    return data
