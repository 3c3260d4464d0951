"""Idle, half-open and too many connections cannot take the hub's sockets (issue 13, finding 6).

Before: 1,200 idle or half-open sockets stayed open for good, and under `ulimit -n 1024` 1,050
idle connections stopped /healthz and wrote 32,000 "Too many open files" lines. The attacker here
writes raw TCP: requests it never finishes, upgrades after which it says nothing. The settings are
given as COLLAB_* variables where a hub without them would still start (and fail the test for what
it does, not for an unknown flag).
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import socket
import time
from pathlib import Path
from typing import Iterator

import httpx
import pycrdt
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from collab.protocol import close_codes, yjs
from collab.protocol import relay_frames as frames
from tests.e2ee.support import new_room, room_url
from tests.support.hub_process import HubProcess, running
from tests.support.raw_http import read_to_end, send_upgrade
from tests.support.waiting import eventually
from tests.support.yclient import pycrdt_client


@contextlib.contextmanager
def fd_limit(soft: int) -> Iterator[None]:
    """Processes started meanwhile get ``soft`` file descriptors (this one keeps its own limit after)."""
    old_soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (old_soft, hard))


def closed_by_hub(sock: socket.socket, within: float) -> bytes:
    """What the hub sent before closing ``sock``; raises TimeoutError if it keeps it open."""
    sock.settimeout(within)
    try:
        return read_to_end(sock)
    finally:
        sock.close()


async def edit_round_trip(url: str, headers: dict[str, str] | None = None) -> float:
    """Two well-behaved clients: one edit from one reaches the other; returns its latency in ms."""
    async with pycrdt_client(url, headers=headers) as a, pycrdt_client(url, headers=headers) as b:
        start = time.perf_counter()
        a.get("code", type=pycrdt.Text).insert(0, "hello")
        await eventually(lambda: "hello" in str(b.get("code", type=pycrdt.Text)), 10, what="the edit")
        return (time.perf_counter() - start) * 1000


async def test_connections_that_never_send_a_request_are_closed_after_the_handshake_timeout(tmp_path: Path) -> None:
    with running(HubProcess(tmp_path / "data", env={"COLLAB_HANDSHAKE_TIMEOUT_SECONDS": "1"})) as hub:
        silent = [socket.create_connection(("127.0.0.1", hub.port)) for _ in range(20)]
        half = []
        for _ in range(20):
            sock = socket.create_connection(("127.0.0.1", hub.port))
            sock.sendall(f"GET /ws/r HTTP/1.1\r\nHost: 127.0.0.1:{hub.port}\r\nUpgrade: web".encode())
            half.append(sock)
        answers = await asyncio.gather(*(asyncio.to_thread(closed_by_hub, s, 10) for s in silent + half))
        assert all(a.startswith(b"HTTP/1.1 408") for a in answers), answers[:3]
        # Meanwhile a real client gets in as usual.
        print(f"edit latency {await edit_round_trip(f'{hub.ws_url}/ws/ok'):.0f} ms")


async def test_an_encrypted_connection_that_never_says_hello_is_closed(tmp_path: Path) -> None:
    with running(HubProcess(tmp_path / "data", env={"COLLAB_HANDSHAKE_TIMEOUT_SECONDS": "1"})) as hub:
        keys = new_room(hub)
        async with connect(room_url(hub, keys), subprotocols=[Subprotocol(frames.SUBPROTOCOL)]) as ws:
            assert isinstance(frames.decode(await ws.recv()), frames.Challenge)
            start = time.monotonic()
            try:
                await asyncio.wait_for(ws.recv(), 10)
            except ConnectionClosed:
                pass
            assert ws.close_code == close_codes.TIMED_OUT, ws.close_code
            assert "HELLO" in (ws.close_reason or "")
            assert time.monotonic() - start < 5


async def test_a_silent_websocket_is_closed_one_that_keeps_its_presence_stays(tmp_path: Path) -> None:
    with running(HubProcess(tmp_path / "data", env={"COLLAB_IDLE_TIMEOUT_SECONDS": "2"})) as hub:
        url = f"{hub.ws_url}/ws/idle"
        # Both answer the hub's pings (the websockets library does); only one sends frames.
        async with connect(url) as silent, connect(url) as talker:
            for ws in (silent, talker):
                await ws.send(yjs.sync_step1(pycrdt.Doc().get_state()))
            awareness = pycrdt.Awareness(pycrdt.Doc())
            awareness.set_local_state({"user": "talker"})
            update = awareness.encode_awareness_update([awareness.client_id])

            async def renew() -> None:
                while True:
                    await talker.send(yjs.awareness_message(update))
                    await asyncio.sleep(0.5)

            async def drain() -> None:
                with contextlib.suppress(ConnectionClosed):
                    while True:
                        await talker.recv()

            helpers = [asyncio.create_task(renew()), asyncio.create_task(drain())]
            try:
                with contextlib.suppress(ConnectionClosed):
                    while True:
                        await asyncio.wait_for(silent.recv(), 10)
                assert silent.close_code == close_codes.TIMED_OUT
                assert "nothing received for 2 s" in (silent.close_reason or "")
                await asyncio.sleep(3)  # past the timeout again: the talker is still in
                assert talker.close_code is None
            finally:
                for task in helpers:
                    task.cancel()


async def test_one_address_gets_a_few_connections_others_still_get_in(tmp_path: Path) -> None:
    with running(HubProcess(tmp_path / "data", "--max-connections-per-ip", "5")) as hub:
        replies = [await asyncio.to_thread(send_upgrade, hub.port, "/ws/flood") for _ in range(20)]
        try:
            statuses = [r.status for r in replies]
            assert statuses[:5] == [101] * 5 and set(statuses[5:]) == {429}, statuses
            assert "too many connections from your address: at most 5" in replies[-1].sock.recv(4096).decode()
            async with httpx.AsyncClient(base_url=hub.url) as http:
                assert (await http.get("/healthz")).status_code == 200
            # Another address (through a proxy the hub trusts: uvicorn believes 127.0.0.1) gets in.
            other = {"X-Forwarded-For": "203.0.113.7"}
            print(f"edit latency from another address {await edit_round_trip(f'{hub.ws_url}/ws/ok', other):.0f} ms")
        finally:
            for reply in replies:
                reply.sock.close()
        # Once the idle sockets are gone, this address gets in again.
        await eventually(lambda: send_upgrade(hub.port, "/ws/flood").status == 101, 10, what="the slots back")


async def test_the_total_stays_below_the_descriptor_limit_and_healthz_answers(tmp_path: Path) -> None:
    # 256 descriptors: the hub keeps 64 for itself, a twentieth of the rest (16 at least) for HTTP.
    hub = HubProcess(tmp_path / "data", env={"COLLAB_MAX_CONNECTIONS_PER_IP": "0"})
    with fd_limit(256):
        hub.start()
    try:
        replies = await asyncio.gather(*(asyncio.to_thread(send_upgrade, hub.port, "/ws/flood") for _ in range(300)))
        statuses = [r.status for r in replies]
        accepted = statuses.count(101)
        print(f"{accepted} accepted, {statuses.count(503)} refused with 503")
        assert 100 <= accepted <= 256 - 64 - 16, accepted
        assert set(statuses) == {101, 503}, set(statuses)
        async with httpx.AsyncClient(base_url=hub.url, timeout=5) as http:
            for _ in range(5):
                assert (await http.get("/healthz")).status_code == 200
        for reply in replies:
            reply.sock.close()
        print(f"edit latency after the flood {await edit_round_trip(f'{hub.ws_url}/ws/ok'):.0f} ms")
    finally:
        hub.stop()
    log = hub.log()
    assert "Too many open files" not in log
    # 200 refusals and 300 connections: a line of each kind per interval, not one per connection.
    assert log.count("refused websocket") <= 2, log[-3000:]
    assert log.count("connection open") <= 2, log[-3000:]
