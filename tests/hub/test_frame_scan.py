"""Frames read without websockets' parser (collab.hub.frame_scan) come out exactly as websockets
reads them, at every segmentation, and everything else still goes through websockets.

The hub's protocol (uvicorn's websockets-sansio protocol with collab.hub.read_ahead's fast path) is
fed client byte streams chunk by chunk next to the same protocol without the fast path (uvicorn's
own ``data_received``); both must deliver the same messages the same way (to the frame sink or
through the queue) and write the same bytes back (pongs, close frames). The transport is a
recorder; the protocol, websockets' parser and the frame sink's rules are the real ones. The
process tests that drive a real hub over TCP are in tests/hub/test_frame_scan_hub.py.
"""

from __future__ import annotations

import asyncio
import base64
import os
import random
import struct
from typing import Any, Iterator

import pytest
from uvicorn.config import Config
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import ServerState

from collab.hub.frame_scan import at_frame_boundary, binary_frame
from collab.hub.read_ahead import ReadAheadWebsocket
from collab.hub.receive import WORK
from tests.hub.ws_frames import client_frame, server_frames

MAX_SIZE = 70_000  # over 65,535: frames with 8-byte lengths fit


class Recorder(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closed = False
        self.paused = False

    def write(self, data: Any) -> None:
        self.written += data

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 9) if name in ("sockname", "peername") else default


class Reference(ReadAheadWebsocket):
    """The hub's protocol as it was: every byte through websockets' parser."""

    data_received = WebSocketsSansIOProtocol.data_received


async def _app(scope: Any, receive: Any, send: Any) -> None:
    await receive()
    await send({"type": "websocket.accept"})
    await asyncio.Event().wait()  # the test reads the protocol's queue itself


async def opened(cls: type[ReadAheadWebsocket]) -> tuple[ReadAheadWebsocket, Recorder]:
    config = Config(app=_app, ws_max_size=MAX_SIZE, ws_per_message_deflate=False, ws_ping_interval=None,
                    log_level="critical", lifespan="off")
    config.load()
    protocol = cls(config=config, server_state=ServerState(), app_state={})
    transport = Recorder()
    protocol.connection_made(transport)
    key = base64.b64encode(os.urandom(16)).decode()
    protocol.data_received(
        f"GET /ws/r HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    for _ in range(100):
        if protocol.handshake_complete:
            break
        await asyncio.sleep(0)
    assert protocol.handshake_complete and transport.written.startswith(b"HTTP/1.1 101")
    transport.written.clear()
    return protocol, transport


class Sink:
    """The receive loop's part (collab.hub.receive): every ``work_every``-th frame queues work, which
    clears the sink until the loop has read its queue empty."""

    def __init__(self, protocol: ReadAheadWebsocket, got: list[tuple[str, Any]], work_every: int) -> None:
        self.protocol, self.got, self.work_every, self.count = protocol, got, work_every, 0

    def frame(self, data: bytes) -> None:
        assert type(data) is bytes
        self.got.append(("sink", data))
        self.count += 1
        if self.work_every and self.count % self.work_every == 0:
            self.protocol.frame_sink = None
            self.protocol.queue.put_nowait({"type": "websocket.receive", WORK: self.count})  # type: ignore[arg-type]


async def run(cls: type[ReadAheadWebsocket], chunks: list[bytes], work_every: int) -> tuple[list[tuple[str, Any]], bytes, bool]:
    protocol, transport = await opened(cls)
    got: list[tuple[str, Any]] = []
    sink = Sink(protocol, got, work_every)
    protocol.frame_sink = sink
    try:
        for chunk in chunks:
            if transport.closed:
                break
            protocol.data_received(chunk)
            while not protocol.queue.empty():
                message: Any = await protocol.receive()
                if WORK in message:
                    got.append(("work", message[WORK]))
                elif message["type"] == "websocket.receive":
                    got.append(("queue", message.get("bytes", message.get("text"))))
                else:
                    got.append((message["type"], message.get("code")))
            protocol.frame_sink = sink
        return got, bytes(transport.written), transport.closed
    finally:
        for task in list(protocol.tasks):
            task.cancel()


def payloads(got: list[tuple[str, Any]]) -> list[Any]:
    return [data for how, data in got if how in ("sink", "queue")]


def random_stream(rng: random.Random, count: int) -> tuple[list[bytes], list[Any]]:
    """Frames of every kind a well-behaved client sends, and the messages they carry."""
    frames: list[bytes] = []
    messages: list[Any] = []
    for _ in range(count):
        kind = rng.random()
        if kind < 0.6:
            n = rng.choice([0, 1, 5, 30, 125, 126, 127, 300, 65535, 65536]) if rng.random() < 0.2 else rng.randint(0, 200)
            payload = rng.randbytes(n)
            form = rng.choice([None, None, None, 126, 127]) if n < 65536 else None
            frames.append(client_frame(payload, length_form=form, mask=b"\0\0\0\0" if rng.random() < 0.05 else None))
            messages.append(payload)
        elif kind < 0.7:
            frames.append(client_frame(rng.randbytes(rng.randint(0, 125)), opcode=9))  # ping
        elif kind < 0.75:
            frames.append(client_frame(rng.randbytes(4), opcode=10))  # unsolicited pong
        elif kind < 0.85:
            text = "".join(rng.choice("abc{}é") for _ in range(rng.randint(0, 40)))
            frames.append(client_frame(text.encode(), opcode=1))
            messages.append(text)
        else:  # a fragmented binary message, with a ping between its fragments
            parts = [rng.randbytes(rng.randint(0, 50)) for _ in range(rng.randint(2, 4))]
            frames.append(client_frame(parts[0], fin=False))
            frames.append(client_frame(b"p", opcode=9))
            frames.extend(client_frame(p, opcode=0, fin=i == len(parts) - 2) for i, p in enumerate(parts[1:]))
            messages.append(b"".join(parts))
    return frames, messages


def segmentations(rng: random.Random, stream: bytes, frames: list[bytes]) -> Iterator[list[bytes]]:
    yield list(frames)  # one frame per read, as a client sending one update at a time
    yield [stream]  # all in one read
    for _ in range(6):  # random cuts, from single bytes to many frames per read
        cuts = sorted(rng.sample(range(1, len(stream)), min(len(stream) - 1, rng.randint(1, 60))))
        yield [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)])]


async def test_binary_frame_reads_what_websockets_reads() -> None:
    rng = random.Random(1)
    for n in [0, 1, 125, 126, 127, 65535, 65536, MAX_SIZE]:
        payload = rng.randbytes(n)
        for form in (None, 126, 127):
            if form == 126 and n > 65535:
                continue
            wire = client_frame(payload, length_form=form)
            assert binary_frame(b"xy" + wire + b"rest", 2, MAX_SIZE) == (payload, 2 + len(wire))
            for cut in {0, 1, 2, 5, len(wire) - 4, len(wire) - 1}:
                assert binary_frame(wire[:max(cut, 0)], 0, MAX_SIZE) is None
    ok = client_frame(b"abc")
    assert binary_frame(ok, 0, 3) == (b"abc", len(ok)) and binary_frame(ok, 0, 2) is None
    assert binary_frame(ok, 0, None) == (b"abc", len(ok))
    for refused in [
        client_frame(b"abc", opcode=1), client_frame(b"abc", fin=False), client_frame(b"abc", opcode=0),
        client_frame(b"abc", rsv=4), client_frame(b"abc", rsv=1), client_frame(b"abc", masked=False),
        client_frame(b"abc", opcode=9), client_frame(b"abc", opcode=8), client_frame(b"abc", opcode=3),
    ]:
        assert binary_frame(refused, 0, MAX_SIZE) is None, refused[:2]


@pytest.mark.parametrize("seed", range(12))
async def test_every_segmentation_delivers_what_websockets_delivers(seed: int) -> None:
    rng = random.Random(seed)
    frames, messages = random_stream(rng, 40)
    stream = b"".join(frames)
    for chunks in segmentations(rng, stream, frames):
        work_every = rng.choice([0, 1, 3, 7])
        fast = await run(ReadAheadWebsocket, chunks, work_every)
        reference = await run(Reference, chunks, work_every)
        assert fast == reference, (seed, work_every, [len(c) for c in chunks])
        assert payloads(fast[0]) == messages
        assert not fast[2]


async def test_a_split_at_every_byte_delivers_what_websockets_delivers() -> None:
    rng = random.Random(99)
    frames = [client_frame(rng.randbytes(n), length_form=form)
              for n, form in [(3, None), (0, None), (130, None), (5, 127), (2, 126)]]
    frames.insert(2, client_frame(b"hi", opcode=9))
    # A payload that reads as a frame of its own: cut after its header, only knowing that
    # websockets is in the middle of a frame keeps it from being taken as one.
    frames.append(client_frame(client_frame(b"inner", mask=b"\0\0\0\0") * 2, mask=b"\0\0\0\0"))
    stream = b"".join(frames)
    for cut in range(1, len(stream)):
        for tail in (len(stream), min(cut + 7, len(stream))):
            chunks = [c for c in (stream[:cut], stream[cut:tail], stream[tail:]) if c]
            fast = await run(ReadAheadWebsocket, chunks, 0)
            assert fast == await run(Reference, chunks, 0), (cut, tail)
            assert fast[1] == b"\x8a\x02hi"  # the pong
    assert (await run(ReadAheadWebsocket, [bytes([b]) for b in stream], 2)) == (await run(Reference, [bytes([b]) for b in stream], 2))


@pytest.mark.parametrize(("bad", "code"), [
    (client_frame(b"abc", masked=False), 1002),
    (client_frame(b"abc", rsv=4), 1002),
    (client_frame(b"abc", opcode=3), 1002),
    (client_frame(b"abc", opcode=0), 1002),  # a continuation without a message
    (client_frame(bytes(MAX_SIZE + 1)), 1009),
    (client_frame(bytes(MAX_SIZE + 1), length_form=127), 1009),
    (client_frame(struct.pack("!H", 1000) + b"bye", opcode=8), 1000),  # the closing handshake
])
async def test_what_ends_a_connection_ends_it_as_websockets_does(bad: bytes, code: int) -> None:
    rng = random.Random(code)
    for _ in range(20):
        frames, messages = random_stream(rng, 8)
        frames.append(bad)
        frames.append(client_frame(b"after the end"))  # never delivered
        stream = b"".join(frames)
        for chunks in segmentations(rng, stream, frames):
            work_every = rng.choice([0, 2])
            fast = await run(ReadAheadWebsocket, chunks, work_every)
            reference = await run(Reference, chunks, work_every)
            # The same bytes written (pongs, then the close frame) and the same end; websockets
            # alone drops the valid frames read in the same chunk as a bad one (uvicorn handles no
            # events after a parser error): those taken before websockets sees the bad frame are
            # delivered.
            assert fast[1:] == reference[1:]
            assert server_frames(fast[1])[-1][:2] == (8, code) and fast[2]
            delivered, before = payloads(fast[0]), payloads(reference[0])
            assert before == delivered[: len(before)] and delivered == messages[: len(delivered)]
            if chunks == frames:  # one frame per read
                assert delivered == messages
            if code == 1000:
                assert fast == reference
            assert fast[0][-1] == ("websocket.disconnect", code)


async def test_one_frame_per_read_never_reaches_websockets(monkeypatch: pytest.MonkeyPatch) -> None:
    """The point of it all: a client's updates, one per TCP read, are read without websockets."""
    rng = random.Random(5)
    frames = [client_frame(rng.randbytes(rng.randint(0, 300))) for _ in range(200)]
    reached: list[bytes] = []
    inner = WebSocketsSansIOProtocol.data_received

    def counted(self: WebSocketsSansIOProtocol, data: bytes) -> None:
        reached.append(data)
        inner(self, data)

    protocol, _ = await opened(ReadAheadWebsocket)
    monkeypatch.setattr(WebSocketsSansIOProtocol, "data_received", counted)
    got: list[tuple[str, Any]] = []
    protocol.frame_sink = Sink(protocol, got, 0)
    assert at_frame_boundary(protocol.conn)
    for frame in frames:
        protocol.data_received(frame)
    protocol.data_received(frames[0][:3])  # a partial frame goes to websockets...
    assert not at_frame_boundary(protocol.conn)
    protocol.data_received(frames[0][3:] + frames[1])  # ...and so does the rest of its read
    assert at_frame_boundary(protocol.conn)
    protocol.data_received(frames[2])  # and then the fast path is back
    assert reached == [frames[0][:3], frames[0][3:] + frames[1]]
    assert payloads(got) == payloads([("sink", binary_frame(f, 0, None)[0]) for f in frames + frames[:3]])  # type: ignore[index]
    for task in list(protocol.tasks):
        task.cancel()
