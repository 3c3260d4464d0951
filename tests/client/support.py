"""Helpers for the client tests: waiting on conditions, reading a hub's metrics."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Callable

import httpx


async def eventually(predicate: Callable[[], object], timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout} s")
        await asyncio.sleep(0.05)


def metric(hub_url: str, name: str) -> float:
    text = httpx.get(hub_url + "/metrics", timeout=5).text
    m = re.search(rf"^{name} (\S+)$", text, re.M)
    return float(m.group(1)) if m else 0.0
