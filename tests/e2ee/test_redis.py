"""Encrypted rooms on hubs that share Redis (store + broker): relayed across hubs, compacted, still blind."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pycrdt
import pytest

from collab.client.encrypted import EncryptedProvider
from collab.crypto.links import websocket_url
from collab.protocol import relay_frames as frames
from tests.e2ee.support import data_bytes, new_room
from tests.support.waiting import eventually
from tests.support.redis_server import RedisServer
from tests.support.hub_process import HubProcess

SECRET = "redis must never see this: opal-falcon-77"


@pytest.fixture
def redis_hubs(tmp_path: Path, redis_server: RedisServer) -> Iterator[tuple[RedisServer, HubProcess, HubProcess]]:
    hubs: list[HubProcess] = []
    try:
        for name in ("a", "b"):
            hubs.append(HubProcess(tmp_path / name, "--redis", redis_server.url, "--log-level", "debug").start())
        yield redis_server, hubs[0], hubs[1]
    finally:
        for hub in hubs:
            hub.stop()


async def test_encrypted_room_across_two_hubs_on_redis(redis_hubs: tuple[RedisServer, HubProcess, HubProcess]) -> None:
    server, hub_a, hub_b = redis_hubs
    keys = new_room(hub_a)
    a = EncryptedProvider(keys, websocket_url(hub_a.url, keys.room_id), compact_every=10**9)
    b = EncryptedProvider(keys.read_only(), websocket_url(hub_b.url, keys.room_id))
    await a.start()
    await b.start()
    try:
        text = a.doc.get("code", type=pycrdt.Text)
        for ch in SECRET:
            text += ch
        b.awareness.set_local_state({"user": {"name": "on hub b"}})
        seen = b.doc.get("code", type=pycrdt.Text)
        await eventually(lambda: str(seen) == SECRET)
        await eventually(lambda: any(s.get("user", {}).get("name") == "on hub b" for s in a.awareness.states.values()))
        covers = await a.compact()
        assert covers == len(SECRET)
        text += "."
        await a.flush()
        await eventually(lambda: str(seen) == SECRET + ".")
    finally:
        await a.stop()
        await b.stop()
    assert a.rejected == [] and b.rejected == []

    received: list[bytes] = []
    late = EncryptedProvider(
        keys.read_only(),
        websocket_url(hub_b.url, keys.room_id),
        on_frame=lambda d, f: received.append(f) if d == "in" else None,
    )
    async with late:
        assert str(late.doc.get("code", type=pycrdt.Text)) == SECRET + "."
    entries = [frames.decode(f) for f in received if f[0] == frames.FrameType.ENTRY]
    assert [e.seq for e in entries] == [covers, covers + 1]  # type: ignore[union-attr]

    server.cli("save", check=False)
    assert keys.room_id.encode() in data_bytes(server.dir)  # the search does look at the room's data
    for secret in (SECRET.encode(), b"opal-falcon", b"on hub b"):
        assert secret not in data_bytes(server.dir)
        assert secret.decode() not in hub_a.log() + hub_b.log()
        assert all(secret not in f for f in received)


async def test_store_outage_keeps_edits_queued_until_redis_is_back(
    redis_hubs: tuple[RedisServer, HubProcess, HubProcess],
) -> None:
    server, hub_a, _ = redis_hubs
    keys = new_room(hub_a)
    url = websocket_url(hub_a.url, keys.room_id)
    async with EncryptedProvider(keys, url, backoff_max=0.5) as writer:
        text = writer.doc.get("code", type=pycrdt.Text)
        text += "saved "
        await writer.flush()
        server.kill()
        text += "while redis is down"
        assert writer.pending == 1
        # The path this test is about: the hub refuses the edit while Redis is down (NACK 1) and the
        # writer keeps it. Redis starts again only after that, so the edit cannot slip in after it.
        await eventually(lambda: "NACK 1 (store unavailable: retry later)" in hub_a.log(), timeout=10)
        assert writer.pending == 1
        server.start()
        await writer.flush(timeout=30)
    assert writer.rejected == [] and writer.refused == []
    async with EncryptedProvider(keys.read_only(), url) as late:
        assert str(late.doc.get("code", type=pycrdt.Text)) == "saved while redis is down"
        assert late.rejected == []


async def test_presence_of_a_dead_hubs_clients_goes_away(redis_hubs: tuple[RedisServer, HubProcess, HubProcess]) -> None:
    """kill -9 one hub: it never says its clients left, so the other hub, once the dead one's
    heartbeat lapses, tells its own clients (LEFT) and their provider drops the presence."""
    _, hub_a, hub_b = redis_hubs
    keys = new_room(hub_a)
    a = EncryptedProvider(keys, websocket_url(hub_a.url, keys.room_id), backoff_max=0.5)
    b = EncryptedProvider(keys, websocket_url(hub_b.url, keys.room_id))
    await a.start()
    await b.start()
    try:
        a.awareness.set_local_state({"user": {"name": "on hub a"}})
        b.awareness.set_local_state({"user": {"name": "on hub b"}})

        def names(provider: EncryptedProvider) -> set[str]:
            return {s.get("user", {}).get("name") for s in provider.awareness.states.values() if s}

        await eventually(lambda: "on hub a" in names(b) and "on hub b" in names(a))
        hub_a.kill()
        await eventually(lambda: "on hub a" not in names(b), timeout=15)
        assert names(b) == {"on hub b"}
    finally:
        await a.stop()
        await b.stop()
