#!/usr/bin/env python3
"""Hub CPU per encrypted update at a fixed rate: workload g's 4-writer encrypted room, one step.

    .venv/bin/python bench/e2ee_cost.py [--rate 6000] [--seconds 6] [--runs 1]

Starts ``$COLLAB_BIN serve`` (default <repo>/.venv/bin/collab; an A/B points it at a wrapper
running another worktree) with the benchmark's flags, opens e2ee_gen's room (4 clients, all
writing, pre-sealed updates), runs a 2 s warm-up at 1,000/s, then ``--seconds`` at ``--rate``, and
prints the hub's CPU (its process tree, /proc) per update sent, with the step's p99 and losses.
A fixed rate, unlike g's ladder, makes runs of two builds comparable update for update.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench" / "loadgen"))

from e2ee_gen import Room  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"hub exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("hub did not listen in time")


async def one_run(http: str, pid: int, rate: float, seconds: float) -> dict:
    cap = int((1000 * 2 + rate * seconds) * 1.2 / 4) + 50
    room = Room(http, "encrypted", 4, 4, cap)
    await room.open()
    await asyncio.sleep(0.3)
    try:
        await room.step("warmup", 1000, 2.0, 2.0, pid)
        step = await room.step("measure", rate, seconds, 3.0, pid)
        await room.settle([step], 3.0)
    finally:
        await room.close()
    cpu = step["server_cpu_pct"] or 0.0
    step["hub_cpu_us_per_update"] = round(cpu / 100 / step["sent_updates_per_s"] * 1e6, 1)
    return step


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=6000)
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--runs", type=int, default=1)
    a = ap.parse_args()
    collab = os.environ.get("COLLAB_BIN") or str(REPO / ".venv" / "bin" / "collab")
    port = free_port()
    with tempfile.TemporaryDirectory() as data:
        flags = ["--max-connections-per-ip", "0", "--max-rooms-per-ip-per-minute", "0"]
        proc = subprocess.Popen([collab, "serve", "--host", "127.0.0.1", "--port", str(port), "--data", data, *flags],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_port(port, proc)
            for _ in range(a.runs):
                s = asyncio.run(one_run(f"http://127.0.0.1:{port}", proc.pid, a.rate, a.seconds))
                print(f"{collab}: {s['hub_cpu_us_per_update']} us hub CPU per update at {s['sent_updates_per_s']}/s "
                      f"(hub {s['server_cpu_pct']} %, loadgen {s['loadgen_cpu_pct']} %, other {s['other_cpu_pct']} %), "
                      f"p99 {s['latency_ms'].get('p99')} ms, lost {s['lost']}, late {s['late']}", flush=True)
        finally:
            proc.terminate()
            proc.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
