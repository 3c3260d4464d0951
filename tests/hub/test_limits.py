"""Garbage, oversized frames, foreign origins and clients that stop reading get clear outcomes,
while well-behaved clients in the same room keep working and nothing bad reaches the store."""

from __future__ import annotations

import asyncio
import base64
import os
import random
import socket
from pathlib import Path

import pycrdt
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from collab.protocol import yjs
from tests.support.hub_process import HubProcess
from tests.support.metrics import scrape
from tests.support.store_file import log_rows, snapshot
from tests.support.yclient import pycrdt_client
from tests.support.waiting import eventually

MAX_FRAME = 64 * 1024


@pytest.fixture
def small_hub(tmp_path: Path):  # type: ignore[no-untyped-def]
    proc = HubProcess(tmp_path / "data", "--max-frame-bytes", str(MAX_FRAME), "--send-buffer-bytes", str(256 * 1024))
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


def invalid_update(rng: random.Random) -> bytes:
    """Random bytes that pycrdt itself (an independent oracle) refuses as a Yjs update."""
    while True:
        candidate = rng.randbytes(rng.randint(1, 64))
        try:
            pycrdt.get_state(candidate)
        except ValueError:
            return candidate


def garbage_frames(count: int, seed: int = 7) -> list[tuple[bytes | str, int]]:
    """(frame, expected close code) for every kind of bad input a hostile or buggy client sends."""
    rng = random.Random(seed)
    doc = pycrdt.Doc()
    text = doc.get("code", type=pycrdt.Text)
    updates: list[bytes] = []
    doc.observe(lambda e: updates.append(e.update))
    text += "a real update to truncate"
    real = yjs.sync_update(updates[0])
    frames: list[tuple[bytes | str, int]] = []
    for i in range(count):
        kind = i % 6
        if kind == 0:  # unknown message type
            frames.append((bytes([rng.randint(4, 127)]) + rng.randbytes(rng.randint(0, 40)), 1002))
        elif kind == 1:  # truncated real message
            frames.append((real[: rng.randint(1, len(real) - 1)], 1002))
        elif kind == 2:  # well-framed update whose payload is not a Yjs update
            frames.append((yjs.sync_update(invalid_update(rng)), 1002))
        elif kind == 3:  # awareness that is not JSON
            entry = yjs.write_var_uint(1) + yjs.write_var_uint(5) + yjs.write_var_uint(1) + yjs.write_var_bytes(b"\xff{")
            frames.append((yjs.awareness_message(entry), 1002))
        elif kind == 4:  # text frame
            frames.append(("".join(rng.choice("abc{}") for _ in range(20)), 1003))
        else:  # oversized
            frames.append((os.urandom(MAX_FRAME + 1 + rng.randint(0, 1000)), 1009))
    return frames


async def send_and_expect_close(url: str, frame: bytes | str) -> int:
    async with connect(url, max_size=None) as ws:
        await ws.send(frame)
        try:
            while True:
                await asyncio.wait_for(ws.recv(), 10)
        except ConnectionClosed as closed:
            assert closed.rcvd is not None, "hub dropped the connection without a close frame"
            return closed.rcvd.code
    raise AssertionError("unreachable")


async def test_garbage_is_refused_and_good_clients_keep_working(small_hub: HubProcess) -> None:
    url = f"{small_hub.ws_url}/ws/shared"
    frames = garbage_frames(1000)
    async with pycrdt_client(url) as writer, pycrdt_client(url) as reader:
        wt = writer.get("code", type=pycrdt.Text)
        rt = reader.get("code", type=pycrdt.Text)
        stop = asyncio.Event()

        async def type_steadily() -> int:
            n = 0
            while not stop.is_set():
                wt.insert(len(wt), f"<{n}>")
                n += 1
                await asyncio.sleep(0.01)
            return n

        typing = asyncio.create_task(type_steadily())
        semaphore = asyncio.Semaphore(16)
        mismatches: list[tuple[int, int]] = []

        async def attack(frame: bytes | str, expected: int) -> None:
            async with semaphore:
                code = await send_and_expect_close(url, frame)
                if code != expected:
                    mismatches.append((expected, code))

        await asyncio.gather(*(attack(f, code) for f, code in frames))
        stop.set()
        typed = await typing
        assert not mismatches, f"wrong close codes (expected, got): {mismatches[:10]}"
        # The writer kept typing throughout and the reader saw every keystroke.
        expected_text = "".join(f"<{n}>" for n in range(typed))
        await eventually(lambda: str(rt) == expected_text)
    # Nothing of the garbage is in the store: its snapshot (a slow run types past --compact-after)
    # and log replay to exactly the typed text.
    doc = pycrdt.Doc()
    db = small_hub.data / "collab.sqlite3"
    stored = snapshot(db, "shared")
    if stored is not None:
        doc.apply_update(stored[1])
    for _, seq, data in log_rows(db, "shared"):
        if stored is None or seq > stored[0]:
            doc.apply_update(data)
    assert str(doc.get("code", type=pycrdt.Text)) == expected_text
    metrics = scrape(small_hub.url)
    assert metrics["collab_protocol_errors_total{reason=malformed}"] >= 600
    assert metrics["collab_protocol_errors_total{reason=text_frame}"] >= 160
    assert metrics["collab_protocol_errors_total{reason=too_big}"] >= 160


async def test_foreign_origin_is_refused_same_host_and_localhost_allowed(small_hub: HubProcess) -> None:
    url = f"{small_hub.ws_url}/ws/origin"
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url, origin="https://evil.example"):  # type: ignore[arg-type]
            pass
    assert refused.value.response.status_code == 403
    async with connect(url, origin=f"http://localhost:{small_hub.port}") as ws:  # type: ignore[arg-type]
        assert (await ws.recv())[0] == yjs.MessageType.SYNC


def raw_websocket_that_never_reads(port: int, path: str) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    response = b""
    while b"\r\n\r\n" not in response:
        response += sock.recv(1)
    assert b" 101 " in response
    return sock


async def test_client_that_stops_reading_is_dropped_not_buffered(tmp_path: Path) -> None:
    # Frames up to 1 MiB so the writer's batched updates pass; 2 MiB of queue per connection.
    small_hub = HubProcess(tmp_path / "data", "--max-frame-bytes", str(2**20), "--send-buffer-bytes", str(2**21))
    small_hub.start()
    url = f"{small_hub.ws_url}/ws/slow"
    stuck = raw_websocket_that_never_reads(small_hub.port, "/ws/slow")
    try:
        async with pycrdt_client(url) as writer, pycrdt_client(url) as reader:
            wt = writer.get("code", type=pycrdt.Text)
            rt = reader.get("code", type=pycrdt.Text)
            chunk = "x" * 30000
            # Kernel socket buffers absorb a few MB first; keep writing until the hub gives up on the
            # stuck client (bounded: 60 MB, 30 times its 2 MiB send buffer).
            sent = 0
            while scrape(small_hub.url).get("collab_slow_client_disconnects_total", 0) < 1 and sent < 2000:
                for _ in range(50):
                    wt += chunk
                    sent += 1
                    await asyncio.sleep(0)
                await eventually(lambda: len(str(rt)) == sent * 30000, timeout=30)
            assert scrape(small_hub.url)["collab_slow_client_disconnects_total"] >= 1
            await eventually(lambda: scrape(small_hub.url)["collab_connections"] == 2)
    finally:
        stuck.close()
        small_hub.stop()
