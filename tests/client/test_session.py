"""Session and PlaintextProvider against a real hub process: sync, presence, offline edits, errors."""

from __future__ import annotations

import asyncio
import base64
import os
from pathlib import Path

import httpx
import pytest

from collab.client.provider import ProviderError, Status
from collab.client.session import Session
from collab.workspace import Workspace
from tests.client.support import metric
from tests.support.waiting import eventually
from tests.support.hub_process import HubProcess
from tests.support.yclient import pycrdt_client


async def test_two_sessions_and_a_stock_pycrdt_client_share_files(hub: HubProcess) -> None:
    link = f"{hub.url}/s/files-room"
    async with Session.connect(link, name="ada") as a, Session.connect(link, name="bob") as b:
        async with pycrdt_client(f"{hub.ws_url}/ws/files-room") as stock:
            a.workspace.write("main.py", "print('hi')\n")
            await eventually(lambda: "main.py" in b.workspace and b.workspace.read("main.py") == "print('hi')\n")
            files = Workspace(stock).files  # schema 2, read by path (docs/workspace.md)
            await eventually(lambda: "main.py" in files and str(files["main.py"]) == "print('hi')\n")
            b.workspace.write("main.py", "print('hi there')\n")
            await eventually(lambda: a.workspace.read("main.py") == "print('hi there')\n")
            await a.wait_idle()
            await b.wait_idle()
            assert a.pending == b.pending == 0
            # Nothing received is sent back: while everyone idles, the hub stores nothing more.
            stored = metric(hub.url, "collab_updates_stored_total")
            await asyncio.sleep(1.0)
            assert metric(hub.url, "collab_updates_stored_total") == stored


async def test_presence_is_seen_and_removed_on_close(hub: HubProcess) -> None:
    link = f"{hub.url}/s/presence-room"
    async with Session.connect(link, name="ada", color="#30bced") as a:
        a.workspace.write("a.py", "x = 1\n")
        async with Session.connect(link, name="bob", color="#ee6352") as b:
            await eventually(lambda: "a.py" in b.workspace)
            b.set_cursor("a.py", 4)
            await eventually(lambda: any(p.get("cursor") for p in a.peers().values()), what="bob's cursor")
            (bob,) = a.peers().values()
            assert bob["user"] == {"name": "bob", "color": "#ee6352", "colorLight": "#ee635233"}
            assert bob["file"] == "a.py"
            assert set(bob["cursor"]) == {"anchor", "head"}
        await eventually(lambda: not a.peers(), what="bob's presence removed")


async def test_offline_edits_reach_the_hub_after_it_restarts(tmp_path: Path) -> None:
    hub = HubProcess(tmp_path / "data").start()
    port = hub.port
    link = f"{hub.url}/s/offline-room"
    try:
        async with Session.connect(link, name="ada") as a, Session.connect(link, name="bob") as b:
            a.workspace.write("f.txt", "one\ntwo\n")
            await eventually(lambda: "f.txt" in b.workspace)
            hub.terminate()
            await eventually(lambda: a.status is Status.OFFLINE and b.status is Status.OFFLINE, what="offline")
            a.workspace.write("f.txt", "ONE\ntwo\n")
            b.workspace.write("f.txt", "one\ntwo\nthree\n")
            assert a.pending > 0
            hub = HubProcess(tmp_path / "data", port=port).start()
            await eventually(lambda: a.workspace.read("f.txt") == b.workspace.read("f.txt") == "ONE\ntwo\nthree\n",
                             timeout=30, what="merge after restart")
            await a.wait_idle()
            assert a.status is Status.CONNECTED and a.pending == 0
    finally:
        hub.stop()
    # And it is durable: a fresh client of a fresh hub process reads the merged text.
    hub = HubProcess(tmp_path / "data", port=port).start()
    try:
        async with Session.connect(link, name="carol") as c:
            assert c.workspace.read("f.txt") == "ONE\ntwo\nthree\n"
    finally:
        hub.stop()


async def test_plaintext_link_to_an_encrypted_room_is_a_clear_error(hub: HubProcess) -> None:
    room = base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")
    key = base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
    r = httpx.post(hub.url + "/api/rooms", json={"kind": "encrypted", "room": room, "write_key": key})
    assert r.status_code == 201
    with pytest.raises(ProviderError, match="end-to-end encrypted"):
        async with Session.connect(f"{hub.url}/s/{room}", name="ada", timeout=10):
            pass


async def test_unreachable_hub_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ProviderError, match="could not reach the hub"):
        async with Session.connect("http://127.0.0.1:9/s/nowhere", name="ada", timeout=1.5):
            pass


async def test_encrypted_link_picks_the_encrypted_provider(hub: HubProcess) -> None:
    from collab.client.encrypted import EncryptedProvider
    from collab.commands.new import create_encrypted_room
    from collab.crypto import write_link

    keys = create_encrypted_room(hub.url)
    link = write_link(hub.url, keys)
    async with Session.connect(link, name="ada") as a, Session.connect(link, name="bob") as b:
        assert isinstance(a.provider, EncryptedProvider)
        a.workspace.write("secret.py", "TOKEN = 'not for the hub'\n")
        await eventually(lambda: "secret.py" in b.workspace)
        assert b.workspace.read("secret.py") == "TOKEN = 'not for the hub'\n"
        await a.wait_idle()
    stored = b"".join(p.read_bytes() for p in hub.data.rglob("*") if p.is_file())
    assert stored and b"not for the hub" not in stored
