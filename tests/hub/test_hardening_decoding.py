"""Large Yjs updates are decoded off the event loop (issue 13): re-sent copies of an 8 MB update
do not stall the other rooms of the hub.

The attacker writes one update dense with small items (350,000 map entries, 7.6 MB: validating and
diffing it took ~0.9 s on the hub's loop) into its room, then sends it again and again as raw
y-websocket frames: every copy used to be decoded on the loop, duplicates included. Meanwhile a
writer and a reader in another room measure each edit's round trip.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

import pycrdt
from websockets.asyncio.client import connect

from collab.protocol import yjs
from tests.hub.edit_latency import edit_round_trips, summary
from tests.support.hub_process import HubProcess
from tests.support.waiting import eventually
from tests.support.yclient import pycrdt_client

ENTRIES = 350_000
COPIES = 5


def dense_update() -> bytes:
    doc: pycrdt.Doc[Any] = pycrdt.Doc()
    files = doc.get("junk", type=pycrdt.Map)
    with doc.transaction():
        for i in range(ENTRIES):
            files[f"k{i}"] = i
    return doc.get_update()


async def test_resent_large_updates_do_not_stall_other_rooms(hub: HubProcess) -> None:
    update = await asyncio.to_thread(dense_update)
    frame = yjs.sync_update(update)
    assert len(frame) < 8 * 1024 * 1024
    async with connect(f"{hub.ws_url}/ws/junk", max_size=None) as evil:
        await evil.send(frame)  # new content: stored and applied once
        async with pycrdt_client(f"{hub.ws_url}/ws/junk") as watcher:
            await eventually(lambda: len(watcher.get("junk", type=pycrdt.Map)) == ENTRIES, 120, what="the first copy")

        attack_done = asyncio.Event()
        measuring = asyncio.create_task(edit_round_trips(f"{hub.ws_url}/ws/quiet", attack_done))
        await asyncio.sleep(0.5)  # the well-behaved clients are editing

        async def resend() -> None:
            for _ in range(COPIES):
                await evil.send(frame)
            # A sync step 1 is answered once the copies before it are processed.
            await evil.send(yjs.sync_step1(b"\x00"))
            while True:
                data = await asyncio.wait_for(evil.recv(), 120)
                assert isinstance(data, bytes)
                msg = yjs.parse_message(data)
                if isinstance(msg, yjs.SyncMessage) and msg.kind == yjs.SyncType.STEP2:
                    return

        started = time.monotonic()
        await resend()
        ended = time.monotonic()
        attack_done.set()
        took = ended - started
        samples = await measuring
    during = [latency for when, latency in samples if started <= when <= ended]
    assert len(during) >= 3, samples
    print(
        f"{COPIES} copies of a {len(frame):,}-byte update processed in {took:.2f} s; edit round trip in another "
        f"room meanwhile: {summary(during)}"
    )
    # The old hub decoded each copy on its loop (~0.9 s each): the other room's edits waited that long.
    assert statistics.median(during) < 0.25, during
