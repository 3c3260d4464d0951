#!/usr/bin/env python3
"""CPU per group commit of the SQLite store when each append commits alone (an idle hub's case,
and workload a's: one or two updates per commit): the hand-off to the store's thread and back plus
SQLite's own work, with synchronous=OFF so the fsync does not hide it. Process CPU time (all
threads) and wall time per commit, over N appends awaited one by one across 50 rooms.

    .venv/bin/python bench/commit_cost.py [N]
    cd /tmp && PYTHONPATH=/path/to/other/worktree /path/to/.venv/bin/python -P bench/commit_cost.py

(the second form measures another checkout's store: -P keeps the current directory off sys.path).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

from collab.store.sqlite import SQLiteStore


async def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(Path(tmp) / "bench.db", synchronous="OFF")
        await store.open()
        for _ in range(200):  # warm up: tables, the heads cache, the thread
            await store.append("warm", b"x" * 40)
        cpu, wall = time.process_time(), time.perf_counter()
        for i in range(n):
            await store.append(f"room-{i % 50}", b"x" * 40)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        await store.close()
    print(f"{1e6 * cpu / n:.1f} us CPU, {1e6 * wall / n:.1f} us wall per commit ({n} commits)")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000))
