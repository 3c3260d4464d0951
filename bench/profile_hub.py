#!/usr/bin/env python3
"""Where the hub's time goes in one benchmark workload: CPU per update, and a py-spy profile.

Starts `collab serve` (the flags the benchmark uses, servers/servers.mjs), runs the benchmark's own
generator (loadgen/gen.mjs) for one workload against it, and prints the hub's CPU time per update
in and per delivery out over the measured step. With --py-spy it also samples the hub meanwhile
(py-spy record --nonblocking, so the hub is never paused) and prints the functions with the largest
share of samples, by self time and inclusive.

    .venv/bin/python bench/profile_hub.py --workload a [--repeat 3] [--py-spy /path/to/py-spy]
    .venv/bin/python bench/profile_hub.py --workload a --redis     # two hubs on one redis-server
    .venv/bin/python bench/profile_hub.py --workload b --redis --affinity   # each room on one hub

With --redis the server is the benchmark's `collab-redis-2` (servers/collab_redis2.sh: its own
redis-server and two hubs, each room's clients alternating between them): the CPU per update is
that of all three processes, and the CPU by process says what each hub and Redis spent.

CPU per update = hub CPU seconds in the measured step / updates sent in it: CPU time, not latency,
so other processes on the machine disturb it far less than they disturb latency (they still do:
a busy hub coalesces more queued updates per frame, which makes each update cheaper).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import socket
import time
import urllib.request
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
COLLAB = os.environ.get("COLLAB_BIN", str(REPO / ".venv" / "bin" / "collab"))
FLAGS = ("--max-connections-per-ip", "0", "--max-rooms-per-ip-per-minute", "0")  # as servers.mjs
READY = re.compile(r"collab hub ready at http://127\.0\.0\.1:(\d+)")


def start_hub(data: Path) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [COLLAB, "serve", "--host", "127.0.0.1", "--port", "0", "--data", str(data), "--log-level", "warning", *FLAGS],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    assert proc.stdout is not None
    port: list[int] = []
    ready = threading.Event()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            m = READY.search(line)
            if m and not port:
                port.append(int(m.group(1)))
                ready.set()

    threading.Thread(target=pump, daemon=True).start()
    if not ready.wait(60):
        proc.kill()
        raise RuntimeError("hub did not start")
    return proc, port[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_two_hubs(data: Path) -> tuple[subprocess.Popen[str], int, int]:
    """servers/collab_redis2.sh on free ports: returns it (the group leader) and the hubs' ports."""
    port, port2, redis_port = free_port(), free_port(), free_port()
    proc = subprocess.Popen(
        ["bash", str(BENCH / "servers" / "collab_redis2.sh"), COLLAB, str(port), str(port2), str(redis_port),
         str(data), *FLAGS],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True, start_new_session=True,
    )
    deadline = time.monotonic() + 60
    for p in (port, port2):
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{p}/healthz", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    os.killpg(proc.pid, signal.SIGKILL)
                    raise RuntimeError("the two hubs did not start") from None
                time.sleep(0.1)
    return proc, port, port2


def tree_cpu(root: int) -> dict[str, float]:
    """CPU seconds so far of each process under ``root`` (by pid and command), without root itself."""
    tick = os.sysconf("SC_CLK_TCK")
    children: dict[int, list[int]] = collections.defaultdict(list)
    stats: dict[int, tuple[str, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
            cmd = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2:].split()
        children[int(fields[1])].append(int(entry.name))
        name = "redis-server" if b"redis-server" in cmd[0] else (
            f"hub :{cmd[cmd.index(b'--port') + 1].decode()}" if b"--port" in cmd else cmd[0].decode())
        stats[int(entry.name)] = (name, (int(fields[11]) + int(fields[12])) / tick)
    out: dict[str, float] = {}
    todo = list(children[root])
    while todo:
        pid = todo.pop()
        todo.extend(children[pid])
        if pid in stats:
            name, cpu = stats[pid]
            out[f"{name} (pid {pid})"] = cpu
    return out


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds (user + system) so far of the event loop's thread and of all the others.

    Python 3.11 does not name its threads for the OS, so the loop is told apart by its thread id
    (the process id); the others are the SQLite writer, the decoder's and asyncio's thread pools.
    """
    tick = os.sysconf("SC_CLK_TCK")
    out = {"event loop": 0.0, "other threads": 0.0}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            raw = (task / "stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2:].split()
        out["event loop" if task.name == str(pid) else "other threads"] += (int(fields[11]) + int(fields[12])) / tick
    return out


def summarize(collapsed: str, top: int) -> list[str]:
    """Self and inclusive shares per function of the event loop's samples, from py-spy's raw
    (collapsed stack) output.

    Only stacks under the event loop count: py-spy takes the SQLite writer thread blocked on its
    work queue for a busy one (it was a fifth of all samples in workload a, while /proc gives that
    thread 5-7 % of the hub's CPU time).
    """
    own: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    total = everything = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        everything += n
        # py-spy 0.3 names the frame "BaseEventLoop.run_forever (...)", 0.4 "run_forever (asyncio/base_events.py:...)".
        if "BaseEventLoop.run_forever" not in stack and "run_forever (asyncio/base_events.py" not in stack:
            continue
        total += n
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
        own[frames[-1]] += n
        for f in set(frames):
            incl[f] += n
    out = [f"samples: {everything}, of the event loop: {total}", "self:"]
    out += [f"  {100 * n / total:5.1f} %  {f}" for f, n in own.most_common(top)]
    out.append("inclusive:")
    out += [f"  {100 * n / total:5.1f} %  {f}" for f, n in incl.most_common(top)]
    return out


def run_once(workload: str, py_spy: str | None, top: int, redis: bool = False, affinity: bool = False) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="collab-profile-") as tmp:
        extra: list[str] = []
        if redis:
            hub, port, port2 = start_two_hubs(Path(tmp) / "data")
            extra = ["--url2", f"ws://127.0.0.1:{port2}", *(["--affinity"] if affinity else [])]
        else:
            hub, port = start_hub(Path(tmp) / "data")
        spy = None
        try:
            if py_spy:
                # With --redis: the first hub (the one on --url), not the script that started both.
                target = hub.pid if not redis else next(
                    int(name.rpartition("pid ")[2].rstrip(")")) for name in tree_cpu(hub.pid)
                    if name.startswith(f"hub :{port} "))
                spy = subprocess.Popen(
                    [py_spy, "record", "--nonblocking", "--rate", "250", "--format", "raw",
                     "--output", f"{tmp}/profile.txt", "--pid", str(target)],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )
                time.sleep(1.0)
            cpu = tree_cpu if redis else thread_cpu
            before = cpu(hub.pid)
            gen = subprocess.run(
                ["node", str(BENCH / "loadgen" / "gen.mjs"), "--workload", workload,
                 "--url", f"ws://127.0.0.1:{port}", *extra, "--server-pid", str(hub.pid), "--no-verify"],
                capture_output=True, text=True, check=True,
            )
            after = cpu(hub.pid)
        finally:
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait(30)
            os.killpg(hub.pid, signal.SIGTERM)
            hub.wait(15)
        result = json.loads(gen.stdout)["result"]
        if spy is not None:
            print("\n".join(summarize(Path(f"{tmp}/profile.txt").read_text(), top)))
    spent = {name: after[name] - before.get(name, 0.0) for name in after}
    total = sum(spent.values()) or 1.0
    print(f"hub CPU by {'process' if redis else 'thread'} over the whole run (connect, warm-up, measure): " + ", ".join(
        f"{name} {100 * s / total:.0f} %" for name, s in sorted(spent.items(), key=lambda kv: -kv[1]) if s > 0))
    cpu_s = result["server_cpu_pct"] / 100 * result["wall_s"]
    deliveries = result["deliveries_per_s"] * result["wall_s"]
    return {
        "us_per_update": 1e6 * cpu_s / result["sent"],
        "us_per_delivery": 1e6 * cpu_s / deliveries if deliveries else 0.0,
        "server_cpu_pct": result["server_cpu_pct"],
        "p50_ms": result["latency_ms"]["p50"],
        "p99_ms": result["latency_ms"]["p99"],
        "lost": result.get("lost", 0),
        "other_cpu_pct": result.get("other_cpu_pct", 0.0),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workload", default="a")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--py-spy", default="", help="path of a py-spy binary: profile the hub meanwhile")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--redis", action="store_true", help="two hubs on one redis-server (collab-redis-2)")
    ap.add_argument("--affinity", action="store_true",
                    help="with --redis: each room's clients all on one hub (rooms alternate), as behind infra/Caddyfile")
    args = ap.parse_args()
    for _ in range(args.repeat):
        r = run_once(args.workload, args.py_spy or None, args.top, args.redis, args.affinity)
        hubs = (" hubs=2" + (" affinity" if args.affinity else "")) if args.redis else ""
        print(f"workload={args.workload}{hubs} " + " ".join(f"{k}={round(v, 1)}" for k, v in r.items()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
