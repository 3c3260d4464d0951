"""A thousand idle connections stay open, and every one still gets what its room sends.

How much memory each costs is measured by bench/ (workloads e-conn, e-room) against the peers in
the same run, not asserted here; this test prints the figure it saw.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pycrdt
from websockets.asyncio.client import ClientConnection, connect

from collab.protocol import yjs
from tests.support.hub_process import HubProcess

IDLE = 1000


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def join(url: str) -> ClientConnection:
    """A y-websocket client that syncs and then stays silent (no awareness, no pings)."""
    ws = await connect(url, compression=None, ping_interval=None, max_queue=None, open_timeout=60)
    await ws.send(yjs.sync_step1(pycrdt.Doc().get_state()))
    while True:  # the hub's step 1 and its step 2 answer to ours, in either order
        msg = yjs.parse_message(await asyncio.wait_for(ws.recv(), 60))
        if isinstance(msg, yjs.SyncMessage) and msg.kind == yjs.SyncType.STEP2:
            return ws


async def test_a_thousand_idle_connections_stay_open_and_still_receive(tmp_path: Path) -> None:
    # One test process is one client address: past the default cap of 256 connections per address
    # (tests/hub/test_hardening_connections.py) it would be refused; here every connection counts.
    hub = HubProcess(tmp_path / "data", "--max-connections-per-ip", "0").start()
    conns: list[ClientConnection] = []
    try:
        assert hub.proc
        url = f"{hub.ws_url}/ws/idle"
        conns += [await join(url) for _ in range(50)]  # warm-up: imports, the room, caches
        await asyncio.sleep(1.0)
        before = rss_kb(hub.proc.pid)
        sem = asyncio.Semaphore(32)

        async def one() -> ClientConnection:
            async with sem:
                return await join(url)

        conns += await asyncio.gather(*(one() for _ in range(IDLE)))
        await asyncio.sleep(1.5)
        per_conn = (rss_kb(hub.proc.pid) - before) / IDLE
        print(f"{per_conn:.1f} kB of hub RSS per idle connection ({IDLE} connections)")

        # A write after all that idleness reaches every silent connection.
        doc = pycrdt.Doc()
        text = doc.get("code", type=pycrdt.Text)
        text += "wake up"
        await conns[0].send(yjs.sync_update(doc.get_update()))

        async def receives_update(ws: ClientConnection) -> None:
            while True:
                msg = yjs.parse_message(await asyncio.wait_for(ws.recv(), 60))
                if isinstance(msg, yjs.SyncMessage) and msg.kind == yjs.SyncType.UPDATE:
                    return

        await asyncio.gather(*(receives_update(ws) for ws in conns[1:]))
    finally:
        await asyncio.gather(*(ws.close() for ws in conns), return_exceptions=True)
        hub.stop()
