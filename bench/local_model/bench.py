"""The local backend's overhead: time to first token, tokens per second, and the agent's memory.

    .venv/bin/python bench/local_model/bench.py                       # the tiny random-weight model
    .venv/bin/python bench/local_model/bench.py --model ~/.cache/collab/models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf

Without --model it writes the tests' tiny random-weight GGUF (tests/support/tiny_gguf.py, needs
gguf-py) into a temporary folder: its figures are the infrastructure (llama.cpp in-process, the
worker thread, the hand-over to the event loop), not what a real model costs. For RSS it starts a
real hub (`collab serve`) and a real `collab agent` joined to a room, once with `builtin` and once
with `local:<model>`, and reads the agent process's VmRSS once it is in the room.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import AsyncIterator

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from collab.ai.backend import ChatMessage, ChatRequest, CompletionRequest, Delta, Usage  # noqa: E402
from collab.ai.local_backend import LocalBackend, LocalSettings  # noqa: E402
from tests.support.hub_process import HubProcess  # noqa: E402

PROMPT = "def fibonacci(n):\n    \"\"\"The n-th Fibonacci number.\"\"\"\n    "


async def timed(stream: AsyncIterator[Delta]) -> tuple[float, float, int]:
    """(seconds to the first token, tokens per second after it, completion tokens)."""
    start = time.perf_counter()
    first: float | None = None
    tokens = 0
    async for delta in stream:
        if isinstance(delta, Usage):
            tokens = delta.completion_tokens
        elif first is None:
            first = time.perf_counter()
    end = time.perf_counter()
    assert first is not None, "no token came"
    return first - start, (tokens - 1) / (end - first) if end > first else float("nan"), tokens


async def speed(backend: LocalBackend, runs: int, tokens: int) -> dict[str, list[tuple[float, float, int]]]:
    out: dict[str, list[tuple[float, float, int]]] = {"chat": [], "completion": []}
    # One warm-up of each, not counted: the first call pays one-off costs (lazy imports, buffers).
    await timed(backend.chat(ChatRequest((ChatMessage("user", "warm up"),), max_tokens=8)))
    await timed(backend.complete(CompletionRequest("w.py", "x = ", "\n", max_tokens=8)))
    for i in range(runs):
        chat = ChatRequest((ChatMessage("user", f"Explain this function ({i}):\n{PROMPT}"),), max_tokens=tokens)
        out["chat"].append(await timed(backend.chat(chat)))
        fim = CompletionRequest("fib.py", PROMPT + f"# {i}\n", "\n\nprint(fibonacci(10))\n", max_tokens=tokens)
        out["completion"].append(await timed(backend.complete(fim)))
    return out


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    assert match
    return int(match.group(1)) / 1024


def agent_rss(hub: HubProcess, model: str, extra: list[str]) -> float:
    from collab.crypto.links import plaintext_link

    link = plaintext_link(hub.url, f"bench-{abs(hash(model)) % 10_000}")
    proc = subprocess.Popen([sys.executable, "-m", "collab.cli", "agent", link, "--model", model, *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if " is in room " in line:
                break
        else:
            raise RuntimeError(f"the agent with {model} did not join")
        time.sleep(1.0)  # let imports and first presence settle
        return rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, default=None, help="a GGUF file (default: the tiny random-weight model)")
    p.add_argument("--threads", type=int, default=-1)
    p.add_argument("--ctx-size", type=int, default=4096)
    p.add_argument("--gpu-layers", type=int, default=-1)
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--tokens", type=int, default=128)
    p.add_argument("--no-rss", action="store_true", help="skip the hub and agent processes")
    args = p.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        model = args.model
        if model is None:
            from tests.support.tiny_gguf import write_tiny_gguf

            model = write_tiny_gguf(Path(tmp) / "tiny-random.gguf")
        settings = LocalSettings(threads=args.threads, ctx_size=args.ctx_size, gpu_layers=args.gpu_layers, parallel=1)
        started = time.perf_counter()
        backend = LocalBackend.at(model, settings)
        load_s = time.perf_counter() - started
        results = asyncio.run(speed(backend, args.runs, args.tokens))
        print(f"model: {model.name} ({model.stat().st_size / 1e6:.1f} MB), load {load_s * 1000:.0f} ms, "
              f"threads {args.threads}, ctx {args.ctx_size}, gpu layers {args.gpu_layers}")
        load = os.getloadavg()[0]
        print(f"runs: {args.runs} of each after a warm-up, up to {args.tokens} tokens; medians "
              f"(and the slowest run); {os.cpu_count()} CPUs, load average {load:.2f} at the end\n")
        print("| call | time to first token | tokens/s after it | tokens |")
        print("|---|---|---|---|")
        for kind, rows in results.items():
            ttft = [r[0] * 1000 for r in rows]
            tps = [r[1] for r in rows]
            n = statistics.median(r[2] for r in rows)
            print(f"| {kind} | {statistics.median(ttft):.1f} ms ({max(ttft):.1f}) | {statistics.median(tps):,.0f} "
                  f"({min(tps):,.0f}) | {n:.0f} |")
        if not args.no_rss:
            hub = HubProcess(Path(tmp) / "hub").start()
            try:
                base = agent_rss(hub, "builtin", [])
                local = agent_rss(hub, f"local:{model}", ["--threads", str(args.threads), "--ctx-size",
                                                           str(args.ctx_size), "--gpu-layers", str(args.gpu_layers)])
            finally:
                hub.stop()
            print(f"\nagent RSS in a room: builtin {base:.0f} MB, local:{model.name} {local:.0f} MB "
                  f"(+{local - base:.0f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
