"""Helpers for the client tests: reading a hub's metrics."""

from __future__ import annotations

from tests.support.metrics import scrape


def metric(hub_url: str, name: str) -> float:
    """One unlabelled sample of the hub's /metrics (0 when it has none yet)."""
    return scrape(hub_url).get(name, 0.0)
