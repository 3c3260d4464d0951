"""Under the presence flood of issue 13, finding 3, the rest of the hub keeps working.

Three anonymous clients in a plaintext room send awareness updates of a million entries (7 MB
each), then the most state they are allowed to hold, then leave; that stalled the old hub's event
loop 10 s while they sent and 38 s when they left, with RSS 530 MB up. Meanwhile a writer and a
reader in another room edit one keystroke at a time: their round trips are printed before, during
and after, and the hub's RSS is sampled from /proc throughout. Only that editing keeps working
within a generous bound, and that RSS stays far below what the flood used to cost, are asserted.
"""

from __future__ import annotations

import asyncio
import json
import time

from tests.hub.edit_latency import edit_round_trips, summary
from tests.hub.presence_clients import attacker, presence_update
from tests.support.hub_process import HubProcess

ATTACKERS = 3
FLOODS = 3  # million-entry updates each
MAX_CLIENTS = 8  # the hub's default --max-presence-clients


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def test_a_presence_flood_does_not_stop_editing_elsewhere(hub: HubProcess) -> None:
    assert hub.proc is not None
    pid = hub.proc.pid
    flood = presence_update([(cid, 1, "{}") for cid in range(1, 1_000_001)])
    state = json.dumps({"user": {"name": "x" * 7000}})  # 8 of these fill the 64 KiB budget
    stop = asyncio.Event()
    measuring = asyncio.create_task(edit_round_trips(f"{hub.ws_url}/ws/quiet", stop, least=40))
    samples: list[float] = []

    async def sample_rss() -> None:
        while not stop.is_set():
            samples.append(rss_mb(pid))
            await asyncio.sleep(0.05)

    sampler = asyncio.create_task(sample_rss())
    await asyncio.sleep(1.0)
    before_rss = rss_mb(pid)
    started = time.monotonic()

    async def one(n: int) -> None:
        async with attacker(f"{hub.ws_url}/ws/flooded") as ws:
            for _ in range(FLOODS):
                await ws.send(flood)
            base = (n + 1) * 10_000_000
            await ws.send(presence_update([(base + i, 1, state) for i in range(1000)]))
            await ws.send(presence_update([(base + i, 2, state) for i in range(MAX_CLIENTS)]))
        # leaving here

    await asyncio.gather(*(one(n) for n in range(ATTACKERS)))
    attack_ended = time.monotonic()
    await asyncio.sleep(1.0)  # the leaving, and what follows it
    stop.set()
    latencies = await measuring
    await sampler
    before = [lat for when, lat in latencies if when < started]
    during = [lat for when, lat in latencies if started <= when <= attack_ended + 1.0]
    print(f"edit round trip in another room before the flood: {summary(before)}")
    print(f"while {ATTACKERS} clients sent {FLOODS} million-entry updates each and left "
          f"({attack_ended - started:.1f} s): {summary(during)}")
    print(f"hub RSS {before_rss:.0f} MB before, at most {max(samples):.0f} MB during")
    assert during, latencies
    assert max(during) < 3.0, during  # the old hub: 10 s and more
    assert max(samples) - before_rss < 200, (before_rss, max(samples))  # the old hub: +530 MB
