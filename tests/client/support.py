"""Helpers for the client tests: reading a hub's metrics."""

from __future__ import annotations

import re

import httpx


def metric(hub_url: str, name: str) -> float:
    text = httpx.get(hub_url + "/metrics", timeout=5).text
    m = re.search(rf"^{name} (\S+)$", text, re.M)
    return float(m.group(1)) if m else 0.0
