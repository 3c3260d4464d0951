"""What a real hub writes to a room's readers: the same valid websocket frames for everyone.

The hub encodes a fan-out frame once and writes those bytes to every reader's socket
(collab.hub.direct_write); here readers that parse the raw byte stream and stock websockets
clients check that each frame is well formed, that every reader got the same frames, and that a
reader who stops reading is still dropped without the others noticing.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import struct
from pathlib import Path
from typing import Awaitable, Callable

import pycrdt
from websockets.asyncio.client import ClientConnection, connect

from collab.protocol import close_codes, yjs
from tests.support.hub_process import HubProcess
from tests.support.metrics import scrape
from tests.support.waiting import eventually


class RawReader:
    """A websocket client that reads the hub's bytes itself and checks every frame strictly."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.close_code: int | None = None

    @classmethod
    async def open(cls, port: int, path: str, *, rcvbuf: int = 0) -> "RawReader":
        sock = socket.socket()
        if rcvbuf:  # a small receive buffer: the hub's writes back up soon after it stops reading
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        reader, writer = await asyncio.open_connection(sock=sock)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101 "), head
        return cls(reader, writer)

    async def message(self) -> bytes | None:
        """The next data message's payload; None after a close frame (or the end of the stream)."""
        while True:
            try:
                first, second = await self.reader.readexactly(2)
            except (asyncio.IncompleteReadError, ConnectionError):
                return None
            assert first & 0x80, "a fragmented message: the hub sends every message in one frame"
            assert first & 0x70 == 0, "reserved bits set: no extension was negotiated"
            assert second & 0x80 == 0, "a masked frame from the server"
            n = second & 0x7F
            if n == 126:
                (n,) = struct.unpack("!H", await self.reader.readexactly(2))
                assert n >= 126, "length not in its shortest form"
            elif n == 127:
                (n,) = struct.unpack("!Q", await self.reader.readexactly(8))
                assert n >= 65536, "length not in its shortest form"
            payload = await self.reader.readexactly(n)
            opcode = first & 0x0F
            if opcode == 0x2:
                return payload
            if opcode == 0x8:
                self.close_code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                return None
            assert opcode == 0x9, f"unexpected opcode {opcode}"  # a keepalive ping: fine, not answered

    def close(self) -> None:
        self.writer.close()


class Typist:
    """Makes updates that each append ``chunk`` to the text "code"."""

    def __init__(self, chunk: str) -> None:
        self.chunk = chunk
        self.doc: pycrdt.Doc[pycrdt.Text] = pycrdt.Doc()
        self.text = self.doc.get("code", type=pycrdt.Text)

    def update(self) -> bytes:
        before = self.doc.get_state()
        self.text += self.chunk
        return self.doc.get_update(before)


Next = Callable[[], Awaitable[bytes | None]]


async def updates_until(next_message: Next, length: Callable[[], int | None]) -> list[bytes]:
    """The update frames a reader gets until its text is ``length()`` long (None: not known yet)."""
    frames: list[bytes] = []
    doc: pycrdt.Doc[pycrdt.Text] = pycrdt.Doc()
    text = doc.get("code", type=pycrdt.Text)
    while len(text) != length():
        frame = await next_message()
        assert frame is not None, f"closed with {len(text)} characters"
        message = yjs.parse_message(frame)
        if isinstance(message, yjs.SyncMessage) and message.kind in (yjs.SyncType.UPDATE, yjs.SyncType.STEP2):
            doc.apply_update(message.payload)
            if message.kind == yjs.SyncType.UPDATE:
                frames.append(frame)
    return frames


def ws_reader(ws: ClientConnection) -> Next:
    async def read() -> bytes:
        message = await ws.recv()
        assert isinstance(message, bytes)
        return message

    return read


async def test_every_reader_gets_the_same_valid_frames(hub: HubProcess) -> None:
    path = "/ws/fanout-frames"
    typist = Typist("ab")
    updates = [typist.update() for _ in range(400)]
    raw = [await RawReader.open(hub.port, path) for _ in range(2)]
    try:
        async with connect(hub.ws_url + path, compression=None) as ws1, \
                connect(hub.ws_url + path, compression=None) as ws2, \
                connect(hub.ws_url + path, compression=None) as writer:
            readers = [r.message for r in raw] + [ws_reader(ws1), ws_reader(ws2)]
            tasks = [asyncio.create_task(updates_until(read, lambda: 800)) for read in readers]
            await eventually(lambda: _connections(hub, 5), what="all five in the room")
            # All at once: updates that become durable in one commit go out merged, in one frame.
            for update in updates:
                await writer.send(yjs.sync_update(update))
            received = await asyncio.wait_for(asyncio.gather(*tasks), 60)
        assert all(frames == received[0] for frames in received), "the readers got different frames"
        doc: pycrdt.Doc[pycrdt.Text] = pycrdt.Doc()
        for frame in received[0]:
            doc.apply_update(yjs.read_var_bytes(frame, 2)[0])
        assert str(doc.get("code", type=pycrdt.Text)) == str(typist.text)
    finally:
        for r in raw:
            r.close()


async def test_a_reader_that_stops_reading_is_dropped_and_the_others_get_everything(tmp_path: Path) -> None:
    hub = HubProcess(tmp_path / "data", "--max-frame-bytes", str(2**20), "--send-buffer-bytes", str(2**20)).start()
    path = "/ws/fanout-slow"
    try:
        stuck = await RawReader.open(hub.port, path, rcvbuf=4096)
        reader = await RawReader.open(hub.port, path)
        async with connect(hub.ws_url + path, compression=None) as ws, \
                connect(hub.ws_url + path, compression=None) as writer:
            await eventually(lambda: _connections(hub, 4), what="all four in the room")
            typist = Typist("x" * 30000)
            final: list[int] = []
            readers = [asyncio.create_task(updates_until(read, lambda: final[0] if final else None))
                       for read in (reader.message, ws_reader(ws))]
            # 30 kB updates until the hub gives up on the reader that reads nothing (kernel buffers
            # take a few MB first, then its 1 MiB queue); the others read along.
            for sent in range(1, 1001):
                await writer.send(yjs.sync_update(typist.update()))
                if sent % 20 == 0:
                    await asyncio.sleep(0.05)
                    if scrape(hub.url).get("collab_slow_client_disconnects_total", 0) >= 1:
                        break
            assert scrape(hub.url)["collab_slow_client_disconnects_total"] == 1
            # What the stuck reader gets when it reads again: valid frames, then the close or the end.
            while await stuck.message() is not None:
                pass
            assert stuck.close_code in (None, close_codes.SLOW_CONSUMER)
            for _ in range(5):
                await writer.send(yjs.sync_update(typist.update()))
            final.append(len(typist.text))
            got = await asyncio.wait_for(asyncio.gather(*readers), 120)
            assert got[0] == got[1], "the two readers that kept up got different frames"
            await eventually(lambda: _connections(hub, 3), what="the stuck reader's connection gone")
        reader.close()
        stuck.close()
    finally:
        hub.stop()


def _connections(hub: HubProcess, n: int) -> bool:
    return bool(scrape(hub.url).get("collab_connections") == n)
