"""Providers syncing through a hub in this process (collab.client.memory_transport): no socket, no port.

The hub is the real one (create_app, the SQLite store, a MemoryBroker) and so are the providers;
only the frames travel through memory instead of TCP.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import AsyncIterator

import pycrdt
import pytest

from collab.broker.memory import MemoryBroker
from collab.client.encrypted import EncryptedProvider
from collab.client.memory_transport import MemoryTransport
from collab.client.plaintext import PlaintextProvider
from collab.client.provider import ProviderError, Status
from collab.client.session import Session
from collab.config import Settings
from collab.crypto import plaintext_link
from collab.client.transport import ConnectFailed
from collab.crypto.keys import RoomKeys, generate_write_secret
from collab.hub.app import create_app
from collab.protocol import close_codes
from collab.store.base import RoomInfo
from collab.store.sqlite import SQLiteStore
from tests.support.waiting import eventually


@contextlib.asynccontextmanager
async def in_process_hub(tmp_path: Path) -> AsyncIterator[tuple[MemoryTransport, SQLiteStore]]:
    settings = Settings(data=tmp_path / "data").validate()
    settings.data.mkdir(parents=True)
    store = SQLiteStore(settings.sqlite_path, synchronous="NORMAL")
    async with MemoryTransport.serving(create_app(settings, store=store, broker=MemoryBroker())) as transport:
        yield transport, store


def text(doc: pycrdt.Doc) -> str:  # type: ignore[type-arg]
    return str(doc.get("code", type=pycrdt.Text))


async def test_two_plaintext_providers_sync_edits_and_presence(tmp_path: Path) -> None:
    async with in_process_hub(tmp_path) as (transport, _):
        a = PlaintextProvider("ws://127.0.0.1/ws/room", transport=transport)
        b = PlaintextProvider("ws://127.0.0.1/ws/room", transport=transport)
        await a.start(timeout=5)
        await b.start(timeout=5)
        try:
            a.doc.get("code", type=pycrdt.Text).insert(0, "from a;")
            await eventually(lambda: text(b.doc) == "from a;", 5, what="a's edit at b")
            b.doc.get("code", type=pycrdt.Text).insert(len(text(b.doc)), "from b;")
            await eventually(lambda: text(a.doc) == "from a;from b;", 5, what="b's edit at a")
            a.awareness.set_local_state({"user": {"name": "ada"}})
            await eventually(lambda: b.awareness.states.get(a.doc.client_id), 5, what="a's presence at b")
            assert await a.confirm(timeout=5)  # a fresh handshake shows the hub stored a's edit
        finally:
            await a.stop()
        await eventually(lambda: a.doc.client_id not in b.awareness.states, 5, what="a's goodbye at b")
        await b.stop()


async def test_encrypted_writer_and_reader_sync_and_the_store_holds_only_ciphertext(tmp_path: Path) -> None:
    async with in_process_hub(tmp_path) as (transport, store):
        keys = RoomKeys.from_write_secret(generate_write_secret())
        await store.create_room(RoomInfo(keys.room_id, "encrypted", keys.write_public_key, time.time()))
        url = f"ws://127.0.0.1/ws/{keys.room_id}"
        writer = EncryptedProvider(keys, url, transport=transport)
        reader = EncryptedProvider(keys.read_only(), url, transport=transport)
        await writer.start(timeout=5)
        await reader.start(timeout=5)
        try:
            writer.doc.get("code", type=pycrdt.Text).insert(0, "TOKEN = 'in memory only'")
            await writer.flush(timeout=5)
            await eventually(lambda: text(reader.doc) == "TOKEN = 'in memory only'", 5, what="the edit at the reader")
            assert writer.rejected == [] and reader.rejected == []
        finally:
            await reader.stop()
            await writer.stop()
        log = await store.load(keys.room_id)
        stored = b"".join(entry.data for entry in log.entries)
        assert stored and b"in memory only" not in stored


async def test_a_dropped_connection_reconnects_and_sends_what_was_written_meanwhile(tmp_path: Path) -> None:
    async with in_process_hub(tmp_path) as (transport, _):
        link = plaintext_link("http://127.0.0.1", "room")
        async with Session.connect(link, name="ada", transport=transport) as ada, Session.connect(
            link, name="bob", transport=transport
        ) as bob:
            first = transport.sockets[0]
            first.drop(close_codes.GOING_AWAY, "network gone")  # ada's connection, from outside
            await eventually(lambda: ada.status is not Status.CONNECTED, 5, what="ada noticing the loss")
            ada.workspace.write("late.py", "x = 1\n")
            await eventually(lambda: bob.workspace.read("late.py") if "late.py" in bob.workspace else None, 10,
                             what="ada's edit after the reconnect")
            assert ada.status is Status.CONNECTED and ada.fatal is None
            assert len(transport.sockets) >= 3  # ada, bob, ada again


async def test_a_refused_upgrade_is_an_http_status_and_final(tmp_path: Path) -> None:
    async with in_process_hub(tmp_path) as (transport, _):
        with pytest.raises(ConnectFailed) as refused:
            await transport.connect("ws://127.0.0.1/not-a-websocket-route")
        assert refused.value.status is not None and 400 <= refused.value.status < 500
        provider = PlaintextProvider("ws://127.0.0.1/not-a-websocket-route", transport=transport)
        with pytest.raises(ProviderError, match="refused the connection with HTTP 4"):
            await provider.start(timeout=5)
        assert provider.status is Status.CLOSED and len(transport.sockets) == 2  # no retry
