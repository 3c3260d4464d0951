"""A real hub reads client frames however TCP cuts them (collab.hub.frame_scan): split headers,
several frames per read, a frame and half the next; pings between updates are answered, the
closing handshake completes, and text, oversized, unmasked and reserved-bit frames close the
connection with the codes they always did. The client is a raw socket writing frames built by hand
(tests/hub/ws_frames.py), so the hub sees exactly the cuts chosen here."""

from __future__ import annotations

import asyncio
import base64
import os
import random
import socket
import struct
from pathlib import Path
from typing import Any, Iterator

import pycrdt
import pytest

from collab.protocol import yjs
from tests.hub.ws_frames import client_frame, split_server_frames
from tests.support.hub_process import HubProcess
from tests.support.waiting import eventually
from tests.support.yclient import pycrdt_client

MAX_FRAME = 64 * 1024


@pytest.fixture
def small_hub(tmp_path: Path) -> Iterator[HubProcess]:
    proc = HubProcess(tmp_path / "data", "--max-frame-bytes", str(MAX_FRAME))
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


class RawClient:
    """A websocket client on a bare TCP stream: the test decides where every write ends."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.buffer = b""
        self.frames: list[tuple[int, int | None, bytes]] = []  # read, not yet looked at

    @classmethod
    async def open(cls, port: int, path: str) -> "RawClient":
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert head.startswith(b"HTTP/1.1 101"), head
        return cls(reader, writer)

    async def write(self, chunks: list[bytes], pause: float = 0.002) -> None:
        """Each chunk in a write of its own, far enough apart that the hub reads them apart."""
        for chunk in chunks:
            self.writer.write(chunk)
            await self.writer.drain()
            await asyncio.sleep(pause)

    async def until(self, opcode: int, payload: bytes | None = None, timeout: float = 10) -> tuple[int, int | None, bytes]:
        """The first server frame with ``opcode`` (and ``payload``), skipping the others."""
        async def wait() -> tuple[int, int | None, bytes]:
            while True:
                while self.frames:
                    frame = self.frames.pop(0)
                    if frame[0] == opcode and (payload is None or frame[2] == payload):
                        return frame
                data = await self.reader.read(65536)
                assert data, f"the hub closed the connection before a frame with opcode {opcode}"
                frames, self.buffer = split_server_frames(self.buffer + data)
                self.frames.extend(frames)
        return await asyncio.wait_for(wait(), timeout)

    async def closes_with(self, code: int, *, echo: bool) -> None:
        """The hub sends a close frame with ``code`` (echoed back where the hub began the closing
        handshake) and then closes the TCP connection, with nothing after its close frame."""
        frame = await self.until(8)
        assert frame[1] == code, frame
        if echo:
            self.writer.write(client_frame(frame[2], opcode=8))
        rest = await asyncio.wait_for(self.reader.read(), 10)
        assert not self.frames and not split_server_frames(self.buffer + rest)[0]
        self.writer.close()


def edits(doc: pycrdt.Doc[Any], count: int, rng: random.Random) -> list[bytes]:
    """The updates of ``count`` small edits (a keystroke each) to ``doc``'s text."""
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    text = doc.get("code", type=pycrdt.Text)
    for i in range(count):
        text.insert(rng.randint(0, len(text)), "abcdefgh"[i % 8])
    return updates


async def test_every_cut_of_a_stream_delivers_its_updates_and_answers_its_ping(small_hub: HubProcess) -> None:
    room = "/ws/cuts"
    oracle: pycrdt.Doc[Any] = pycrdt.Doc()
    rng = random.Random(3)
    async with pycrdt_client(f"{small_hub.ws_url}{room}") as reader:
        sample = [client_frame(yjs.sync_update(u)) for u in edits(pycrdt.Doc(), 3, rng)]
        length = len(b"".join(sample)) + len(client_frame(b"ping"))
        for cut in range(1, length):
            doc: pycrdt.Doc[Any] = pycrdt.Doc()
            updates = edits(doc, 3, rng)
            for update in updates:
                oracle.apply_update(update)
            ping = f"p{cut}".encode()
            frames = [client_frame(yjs.sync_update(updates[0])), client_frame(ping, opcode=9),
                      *(client_frame(yjs.sync_update(u)) for u in updates[1:])]
            stream = b"".join(frames)
            cut = min(cut, len(stream) - 1)
            # Cut twice: at ``cut``, and half-way into whatever follows it.
            second = cut + max(1, (len(stream) - cut) // 2)
            client = await RawClient.open(small_hub.port, room)
            await client.write([stream[:cut], stream[cut:second], stream[second:]])
            await client.until(10, ping)  # the pong
            await client.write([client_frame(struct.pack("!H", 1000), opcode=8)])
            await client.closes_with(1000, echo=False)  # the closing handshake
        want = str(oracle.get("code", type=pycrdt.Text))
        text = reader.get("code", type=pycrdt.Text)
        await eventually(lambda: str(text) == want, 20, what="every update of every cut stream")


@pytest.mark.parametrize(("bad", "code"), [
    (client_frame(b"not binary", opcode=1), 1003),  # the hub refuses text frames
    # Refused at its header: the rest of its payload is not sent (unread, it would make the hub's
    # close an RST that can take the close frame with it).
    (client_frame(os.urandom(MAX_FRAME + 1))[:300], 1009),
    (client_frame(b"\x00\x00", masked=False), 1002),
    (client_frame(b"\x00\x00", rsv=4), 1002),
])
async def test_bad_frames_after_good_ones_close_with_the_codes_they_always_did(
    small_hub: HubProcess, bad: bytes, code: int,
) -> None:
    rng = random.Random(code)
    room = f"/ws/bad-{code}"
    for split in ("each in a write of its own", "all in one write", "the bad one cut after its header"):
        good = [client_frame(yjs.sync_update(u)) for u in edits(pycrdt.Doc(), 3, rng)]
        client = await RawClient.open(small_hub.port, room)
        if split == "each in a write of its own":
            await client.write([*good, bad])
        elif split == "all in one write":
            await client.write([b"".join(good) + bad])
        else:
            await client.write([b"".join(good) + bad[:2], bad[2:]])
        await client.closes_with(code, echo=code == 1003)  # websockets itself fails the others


async def test_thousands_of_updates_cut_at_random_reach_a_reader_intact(small_hub: HubProcess) -> None:
    room = "/ws/random-cuts"
    rng = random.Random(11)
    doc: pycrdt.Doc[Any] = pycrdt.Doc()
    updates = edits(doc, 4000, rng)
    frames: list[bytes] = []
    pings: list[bytes] = []
    for i, update in enumerate(updates):
        frames.append(client_frame(yjs.sync_update(update)))
        if i % 500 == 250:
            pings.append(f"ping {i}".encode())
            frames.append(client_frame(pings[-1], opcode=9))
    stream = b"".join(frames)
    chunks: list[bytes] = []
    pos = 0
    while pos < len(stream):
        size = rng.choice([1, 2, 3, 5, 8, 13, 40, 41, 90, 200, 1000])
        chunks.append(stream[pos:pos + size])
        pos += size
    want = str(doc.get("code", type=pycrdt.Text))
    async with pycrdt_client(f"{small_hub.ws_url}{room}") as reader:
        client = await RawClient.open(small_hub.port, room)
        await client.write(chunks, pause=0)
        for ping in pings:
            await client.until(10, ping, timeout=30)
        text = reader.get("code", type=pycrdt.Text)
        await eventually(lambda: str(text) == want, 30, what="all 4,000 updates")
        await client.write([client_frame(struct.pack("!H", 1000), opcode=8)])
        await client.closes_with(1000, echo=False)
    async with pycrdt_client(f"{small_hub.ws_url}{room}") as late:  # and the store has them all
        assert str(late.get("code", type=pycrdt.Text)) == want
