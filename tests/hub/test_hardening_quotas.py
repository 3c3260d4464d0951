"""Room creation by first connect and writes are quotas, not free (issue 13, finding 12).

Before: 2,000 rooms created by first connect in 14 s (each kept for good), and one client wrote
150 MiB into one room in 11 s. The attacker writes raw y-websocket frames: real Yjs updates, as
fast as the socket takes them, and opens rooms by name.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Iterator

import httpx
import pycrdt
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from collab.protocol import close_codes, yjs
from collab.protocol import relay_frames as frames
from collab.protocol.envelope import new_author_id, seal_snapshot, seal_update
from tests.e2ee.support import new_room, raw_client, room_url
from tests.support.hub_process import HubProcess, running
from tests.support.store_file import log_rows, snapshot
from tests.support.waiting import eventually
from tests.support.yclient import pycrdt_client

MIB = 1024 * 1024


def big_updates(size: int) -> Iterator[bytes]:
    """Valid Yjs updates of about ``size`` bytes each, one after the other, from one writer."""
    doc = pycrdt.Doc()
    text = doc.get("junk", type=pycrdt.Text)
    while True:
        before = doc.get_state()
        text += "x" * size
        yield doc.get_update(before)


async def flood(ws: ClientConnection, limit: int) -> tuple[int, int | None, str]:
    """Write updates of 256 KiB into ``ws`` until ``limit`` bytes or the hub closes it: (bytes, code, reason)."""
    sent = 0
    updates = big_updates(256 * 1024)
    with contextlib.suppress(ConnectionClosed):
        await ws.send(yjs.sync_step1(b"\x00"))
        while sent < limit:
            frame = yjs.sync_update(next(updates))
            await ws.send(frame)
            sent += len(frame)
            await asyncio.sleep(0)  # our sends never wait (the hub reads fast): let the reader run
        await asyncio.wait_for(ws.wait_closed(), 10)
    return sent, ws.close_code, ws.close_reason or ""


def stored_bytes(hub: HubProcess, room: str) -> int:
    """The room's log and snapshot (the hub compacts a room into its snapshot when it stops)."""
    path = hub.data / "collab.sqlite3"
    snap = snapshot(path, room)
    return sum(len(data) for _, _, data in log_rows(path, room)) + (len(snap[1]) if snap else 0)


async def typing_latency(url: str, stop: asyncio.Event) -> list[float]:
    """A well-behaved writer and reader in another room: ms from each keystroke to the reader."""
    latencies: list[float] = []
    async with pycrdt_client(url) as writer, pycrdt_client(url) as reader:
        wt, rt = writer.get("code", type=pycrdt.Text), reader.get("code", type=pycrdt.Text)
        while not stop.is_set():
            start = time.perf_counter()
            wt += "k"
            want = len(wt)
            await eventually(lambda: len(rt) == want, 20, interval=0.002, what="a keystroke")
            latencies.append((time.perf_counter() - start) * 1000)
            await asyncio.sleep(0.05)
    return latencies


async def test_a_client_writing_as_fast_as_it_can_is_closed_with_4429(tmp_path: Path) -> None:
    # Small figures so the test is quick; the defaults are 64 MiB at once, then 1 MiB/s (a room: 128, 2).
    hub = HubProcess(
        tmp_path / "data", "--max-frame-bytes", str(MIB), "--write-burst-bytes", str(4 * MIB),
        env={"COLLAB_MAX_WRITE_BYTES_PER_SECOND": str(MIB), "COLLAB_ROOM_WRITE_BURST_BYTES": str(6 * MIB),
             "COLLAB_MAX_ROOM_WRITE_BYTES_PER_SECOND": str(MIB)},
    )
    with running(hub):
        stop = asyncio.Event()
        typing = asyncio.create_task(typing_latency(f"{hub.ws_url}/ws/other", stop))
        start = time.monotonic()
        async with connect(f"{hub.ws_url}/ws/target", max_size=None) as ws:
            sent, code, reason = await flood(ws, 150 * MIB)
        print(f"the first connection wrote {sent / MIB:.1f} MiB in {time.monotonic() - start:.1f} s")
        assert code == close_codes.RATE_LIMITED, (code, reason)
        assert "rate limited: this connection wrote more than 4 MiB at once or 1 MiB a second" in reason
        assert sent < 20 * MIB
        # Reconnecting gets a new connection's burst, but not past the room's.
        async with connect(f"{hub.ws_url}/ws/target", max_size=None) as ws:
            _, code, reason = await flood(ws, 150 * MIB)
        assert code == close_codes.RATE_LIMITED and "this room" in reason, (code, reason)
        elapsed = time.monotonic() - start
        stop.set()
        latencies = sorted(await typing)
        print(f"typing in another room meanwhile: {len(latencies)} keystrokes, "
              f"median {latencies[len(latencies) // 2]:.0f} ms, max {latencies[-1]:.0f} ms")
        assert latencies
    stored = stored_bytes(hub, "target")
    print(f"stored in the room: {stored / MIB:.1f} MiB in {elapsed:.1f} s")
    assert stored <= 6 * MIB + elapsed * MIB + MIB  # the room's burst, its rate, one frame in flight


async def test_the_defaults_let_a_big_paste_and_a_large_share_through(hub: HubProcess) -> None:
    # A paste is one update up to the frame limit (8 MiB); `collab share` of a 300 MB folder sent
    # 57 MiB as fast as it could, in transactions of 256 KiB. Both fit the default burst.
    paste = big_updates(7 * MIB)
    upload = big_updates(256 * 1024)
    frames = [yjs.sync_update(next(paste))] + [yjs.sync_update(next(upload)) for _ in range(200)]
    async with connect(f"{hub.ws_url}/ws/big", max_size=None) as ws:
        await ws.send(yjs.sync_step1(b"\x00"))
        for frame in frames:
            await ws.send(frame)
        print(f"sent {sum(map(len, frames)) / MIB:.0f} MiB")
        # The server reads a frame only once the hub has taken the one before (and counted it against
        # the quota): the pong to a ping sent after the last frame means the hub took them all.
        await asyncio.wait_for(await ws.ping(), 120)
        assert ws.close_code is None


async def test_rooms_created_by_first_connect_count_against_the_address_like_posts(tmp_path: Path) -> None:
    with running(HubProcess(tmp_path / "data", "--max-rooms-per-ip-per-minute", "5")) as hub:
        codes: list[int | None] = []
        reasons: list[str] = []
        for i in range(8):
            async with connect(f"{hub.ws_url}/ws/new-{i}") as ws:
                with contextlib.suppress(ConnectionClosed, TimeoutError):
                    await ws.send(yjs.sync_step1(b"\x00"))
                    await asyncio.wait_for(ws.recv(), 5)  # the hub's sync step 1 in a room it made
                    await asyncio.wait_for(ws.recv(), 0.5)
                codes.append(ws.close_code)
                reasons.append(ws.close_reason or "")
        assert codes[:5] == [None] * 5, codes
        assert set(codes[5:]) == {close_codes.RATE_LIMITED}, codes
        assert "too many rooms created from your address: at most 5 a minute" in reasons[-1]
        async with httpx.AsyncClient(base_url=hub.url) as http:
            refused = await http.post("/api/rooms", json={})  # the same budget as POST /api/rooms
            assert refused.status_code == 429 and "retry-after" in refused.headers
            assert (await http.get("/api/rooms/new-7")).status_code == 404  # never created
        async with pycrdt_client(f"{hub.ws_url}/ws/new-0"):  # rooms that exist still open
            pass
        async with pycrdt_client(f"{hub.ws_url}/ws/elsewhere", headers={"X-Forwarded-For": "203.0.113.9"}):
            pass  # another address still creates rooms


async def test_a_writers_snapshot_in_parts_is_not_counted_against_the_quota(tmp_path: Path) -> None:
    # A snapshot replaces the log instead of adding to it and has its own limit (--max-snapshot-bytes):
    # a room whose state is bigger than the write burst can still compact.
    hub = HubProcess(
        tmp_path / "data", "--max-frame-bytes", str(MIB), "--write-burst-bytes", str(MIB),
        env={"COLLAB_MAX_WRITE_BYTES_PER_SECOND": str(64 * 1024), "COLLAB_ROOM_WRITE_BURST_BYTES": str(MIB),
             "COLLAB_MAX_ROOM_WRITE_BYTES_PER_SECOND": str(64 * 1024)},
    )
    with running(hub):
        keys = new_room(hub)
        author = new_author_id()
        async with raw_client(room_url(hub, keys)) as raw:
            await raw.hello(keys)
            for seq in (1, 2):  # 0.8 MiB of the 1 MiB bursts
                await raw.ws.send(frames.publish(seq, seal_update(keys, author, seq, b"u" * 400 * 1024)))
                assert isinstance(await raw.recv(), frames.Ack)
            snapshot = seal_snapshot(keys, author, 3, 2, b"s" * (3 * MIB))  # three bursts' worth
            for part in frames.snapshot_parts(7, snapshot, MIB):
                await raw.ws.send(part)
            ack = await raw.recv(30)
            assert isinstance(ack, frames.Ack) and ack.client_ref == 7 and ack.seq == 2, ack
            # Updates still count: the next 0.4 MiB is over what is left of the bursts.
            with contextlib.suppress(ConnectionClosed):
                await raw.ws.send(frames.publish(3, seal_update(keys, author, 3, b"u" * 400 * 1024)))
                await raw.recv()
            assert raw.ws.close_code == close_codes.RATE_LIMITED
