"""A well-behaved pair of clients that measures edit round trips while something else happens."""

from __future__ import annotations

import asyncio
import statistics
import time

import pycrdt

from tests.support.waiting import eventually
from tests.support.yclient import pycrdt_client


async def edit_round_trips(url: str, until: asyncio.Event, least: int = 20) -> list[tuple[float, float]]:
    """(when, seconds) from a writer's edit to its arrival at a reader, one edit at a time, until
    ``until`` is set (and at least ``least`` edits)."""
    latencies: list[tuple[float, float]] = []
    async with pycrdt_client(url) as writer, pycrdt_client(url) as reader:
        wt, rt = writer.get("code", type=pycrdt.Text), reader.get("code", type=pycrdt.Text)
        while not until.is_set() or len(latencies) < least:
            start = time.monotonic()
            wt += "x"
            want = len(wt)
            await eventually(lambda: len(rt) == want, 120, interval=0.002, what="an edit at the reader")
            latencies.append((start, time.monotonic() - start))
            await asyncio.sleep(0.02)
    return latencies


def summary(latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (
        f"median {statistics.median(ordered) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, "
        f"max {ordered[-1] * 1000:.0f} ms ({len(ordered)} edits)"
    )
