"""`collab new`: creates the room on a real hub and prints links that work."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pycrdt

from collab.client.encrypted import EncryptedProvider
from collab.crypto.links import parse_link
from tests.support.hub_process import HubProcess
from tests.support.ports import free_port


def collab(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "collab.cli", *args], capture_output=True, text=True, timeout=60)


async def test_new_encrypted_room_prints_working_write_and_read_links(hub: HubProcess) -> None:
    result = collab("new", "--server", hub.url)
    assert result.returncode == 0, result.stderr
    links = [line.split(": ", 1)[1].strip() for line in result.stdout.splitlines() if "link:" in line]
    assert len(links) == 2
    write, read = parse_link(links[0]), parse_link(links[1])
    assert write.keys is not None and write.keys.can_write
    assert read.keys is not None and not read.keys.can_write and read.room == write.room
    info = httpx.get(f"{hub.url}/api/rooms/{write.room}").json()
    assert info["kind"] == "encrypted"
    # The secret itself never went to the hub: only the room id and the public write key.
    assert links[0].split("#k=")[1] not in hub.log()
    async with EncryptedProvider.from_link(links[0]) as writer:
        writer.doc.get("code", type=pycrdt.Text).insert(0, "hi")
        await writer.flush()
    async with EncryptedProvider.from_link(links[1]) as reader:
        assert str(reader.doc.get("code", type=pycrdt.Text)) == "hi"


async def test_new_plaintext_room(hub: HubProcess) -> None:
    result = collab("new", "--server", hub.url, "--plaintext")
    assert result.returncode == 0, result.stderr
    link = result.stdout.split("link: ")[1].strip()
    parsed = parse_link(link)
    assert parsed.keys is None
    assert httpx.get(f"{hub.url}/api/rooms/{parsed.room}").json()["kind"] == "plaintext"


def test_unreachable_server_is_a_clear_error() -> None:
    port = free_port()  # nothing listens there
    result = collab("new", "--server", f"http://127.0.0.1:{port}")
    assert result.returncode == 1
    assert f"cannot reach the hub at http://127.0.0.1:{port}" in result.stderr
    assert result.stdout == ""
    bad = collab("new", "--server", "ftp://example.com")
    assert bad.returncode == 1 and "http://" in bad.stderr
