#!/usr/bin/env python3
"""Cross-hub fan-out latency: a writer on hub A, readers on hub A and on hub B, one Redis.

Starts its own redis-server (free port, temp dir, AOF with the chosen appendfsync) and two
`collab serve --redis` processes, types N single-character updates one at a time, and reports how
long each took to show up at a reader on the same hub and at a reader on the other hub.

    .venv/bin/python bench/crosshub.py [--updates 500] [--appendfsync always|everysec]

Prints one line: crosshub updates=N fsync=... same_hub_p50_ms=... same_hub_p99_ms=... cross_hub_p50_ms=... cross_hub_p99_ms=...
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pycrdt  # noqa: E402

from tests.support.redis_server import RedisServer  # noqa: E402
from tests.support.hub_process import HubProcess  # noqa: E402
from tests.support.yclient import pycrdt_client  # noqa: E402


# The limits servers/servers.mjs lifts for every collab hub in the benchmark (COLLAB_BENCH_FLAGS):
# three connections do not reach them, but the hubs measured here should be configured as the
# others are.
BENCH_FLAGS = ("--max-connections-per-ip", "0", "--max-rooms-per-ip-per-minute", "0")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(a: HubProcess, b: HubProcess, updates: int) -> tuple[list[float], list[float]]:
    same: list[float] = []
    cross: list[float] = []
    async with (
        pycrdt_client(f"{a.ws_url}/ws/bench") as writer,
        pycrdt_client(f"{a.ws_url}/ws/bench") as near,
        pycrdt_client(f"{b.ws_url}/ws/bench") as far,
    ):
        text = writer.get("code", type=pycrdt.Text)
        seen = {id(near): asyncio.Event(), id(far): asyncio.Event()}
        target = [0]

        def watch(doc: pycrdt.Doc[Any]) -> None:
            t, event = doc.get("code", type=pycrdt.Text), seen[id(doc)]

            def changed(_event: object) -> None:
                if len(t) >= target[0]:
                    event.set()

            t.observe(changed)

        watch(near)
        watch(far)
        for i in range(updates):
            target[0] = i + 1
            for ev in seen.values():
                ev.clear()
            started = time.perf_counter()
            text += "x"
            await asyncio.wait_for(seen[id(near)].wait(), 10)
            same.append(time.perf_counter() - started)
            await asyncio.wait_for(seen[id(far)].wait(), 10)
            cross.append(time.perf_counter() - started)
    return same, cross


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--updates", type=int, default=500)
    parser.add_argument("--appendfsync", choices=("always", "everysec"), default="always")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="collab-crosshub-") as tmp:
        redis = RedisServer(Path(tmp) / "redis", appendfsync=args.appendfsync).start()
        hubs = [HubProcess(Path(tmp) / name, "--redis", redis.url, "--log-level", "warning", *BENCH_FLAGS) for name in "ab"]
        try:
            for hub in hubs:
                hub.start()
            same, cross = await measure(hubs[0], hubs[1], args.updates)
        finally:
            for hub in hubs:
                hub.stop()
            redis.stop()

    def ms(seconds: float) -> str:
        return f"{seconds * 1000:.2f}"

    print(
        f"crosshub updates={len(cross)} fsync={args.appendfsync}"
        f" same_hub_p50_ms={ms(statistics.median(same))} same_hub_p99_ms={ms(percentile(same, 0.99))}"
        f" cross_hub_p50_ms={ms(statistics.median(cross))} cross_hub_p99_ms={ms(percentile(cross, 0.99))}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
