#!/usr/bin/env python3
"""CPU each hub spends per update when the update crosses Redis from one hub to the other.

Starts the benchmark's `collab-redis-2` (servers/collab_redis2.sh: its own redis-server and two
hubs), puts one writer on hub A and one reader on hub B in the same room, and sends pre-encoded
single-character typing updates to A at a fixed rate. Hub B's CPU over the run divided by the
updates is what a hub spends per update received from another hub (pub/sub read, apply, one
delivery to its reader); hub A's is what the writing hub spends (receive, append + publish, no
local reader); Redis's own CPU per update is printed too. CPU from /proc, so other processes on
the machine disturb it far less than latency; compare runs made back to back.

    .venv/bin/python bench/relay_cost.py [--rate 500] [--seconds 10] [--repeat 3]

COLLAB_BIN picks the hub (default <repo>/.venv/bin/collab), as for profile_hub.py.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pycrdt
from websockets.asyncio.client import ClientConnection, connect

sys.path.insert(0, str(Path(__file__).resolve().parent))
from profile_hub import start_two_hubs, summarize, tree_cpu  # noqa: E402  (the same servers and /proc reading)

from collab.protocol import yjs  # noqa: E402


def typing_updates(n: int) -> list[bytes]:
    doc: pycrdt.Doc[pycrdt.Text] = pycrdt.Doc()
    text = doc.get("code", type=pycrdt.Text)
    out = []
    for i in range(n):
        before = doc.get_state()
        text += "abcdefghij"[i % 10]
        out.append(yjs.sync_update(doc.get_update(before)))
    return out


def by_role(cpu: dict[str, float], port_a: int, port_b: int) -> dict[str, float]:
    roles = {"hub A (writer's)": 0.0, "hub B (reader's)": 0.0, "redis-server": 0.0}
    for name, seconds in cpu.items():
        if f":{port_a} " in name:
            roles["hub A (writer's)"] += seconds
        elif f":{port_b} " in name:
            roles["hub B (reader's)"] += seconds
        elif name.startswith("redis-server"):
            roles["redis-server"] += seconds
    return roles


async def run(rate: int, seconds: float, py_spy: str | None = None, top: int = 30, spy_on: str = "b") -> dict[str, float]:
    n = int(rate * seconds)
    updates = typing_updates(n)
    with tempfile.TemporaryDirectory(prefix="collab-relay-") as tmp:
        proc, port_a, port_b = start_two_hubs(Path(tmp) / "data")
        try:
            async with connect(f"ws://127.0.0.1:{port_b}/ws/relay", compression=None) as reader, \
                    connect(f"ws://127.0.0.1:{port_a}/ws/relay", compression=None) as writer:
                seen: pycrdt.Doc[pycrdt.Text] = pycrdt.Doc()
                text = seen.get("code", type=pycrdt.Text)

                async def read() -> None:  # what reaches B: checked, so the figure is for real work
                    async for message in reader:
                        assert isinstance(message, bytes)
                        parsed = yjs.parse_message(message)
                        if isinstance(parsed, yjs.SyncMessage) and parsed.kind != yjs.SyncType.STEP1:
                            seen.apply_update(parsed.payload)

                async def drain(ws: ClientConnection) -> None:
                    async for _ in ws:
                        pass

                tasks = [asyncio.create_task(read()), asyncio.create_task(drain(writer))]
                await asyncio.sleep(1.0)  # both joined, the room loaded on both hubs
                spy = None
                if py_spy:  # hub B (the reader's: what a relayed update costs the hub receiving it) or A
                    spied = port_b if spy_on == "b" else port_a
                    hub_pid = next(int(k.rpartition("pid ")[2].rstrip(")")) for k in tree_cpu(proc.pid)
                                   if k.startswith(f"hub :{spied} "))
                    spy = subprocess.Popen(
                        [py_spy, "record", "--nonblocking", "--rate", "250", "--format", "raw",
                         "--output", f"{tmp}/profile.txt", "--pid", str(hub_pid)],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                    )
                    await asyncio.sleep(1.0)
                before = by_role(tree_cpu(proc.pid), port_a, port_b)
                started = time.perf_counter()
                for i, update in enumerate(updates):
                    await writer.send(update)
                    delay = started + (i + 1) / rate - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                await asyncio.sleep(2.0)  # the last ones through to B
                after = by_role(tree_cpu(proc.pid), port_a, port_b)
                if spy is not None:
                    spy.send_signal(signal.SIGINT)
                    spy.wait(30)
                    print("\n".join(summarize(Path(f"{tmp}/profile.txt").read_text(), top)))
                if len(text) != n:
                    raise SystemExit(f"hub B's reader has {len(text)} of {n} characters")
                for task in tasks:
                    task.cancel()
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(15)
    return {role: 1e6 * (after[role] - before[role]) / n for role in after}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=int, default=500, help="updates per second into hub A")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--py-spy", default="", help="path of a py-spy binary: profile one hub meanwhile")
    ap.add_argument("--spy-on", choices=("a", "b"), default="b", help="with --py-spy: hub A (writer's) or B (reader's)")
    ap.add_argument("--top", type=int, default=30, help="functions to list from the profile")
    args = ap.parse_args()
    for _ in range(args.repeat):
        r = asyncio.run(run(args.rate, args.seconds, args.py_spy or None, args.top, args.spy_on))
        print(f"rate={args.rate}/s " + " ".join(f"{k}={v:.0f}us/update" for k, v in r.items()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
