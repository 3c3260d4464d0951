"""Dropped frames are logged at most once per peer per interval, with a count, in bounded memory."""

from __future__ import annotations

import pytest

from collab.client.rejections import KEEP, LOG_INTERVAL_S, MAX_LINES, Rejection, Rejections

JUNK = Rejection(None, "awareness", "TamperedEnvelope", "decryption failed")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "collab.client.rejections"]


def test_one_peer_gets_one_line_per_interval_and_the_next_says_how_many_more(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    rejections = Rejections("room r", clock=clock)
    for _ in range(20_000):
        rejections.add(JUNK, "connection 7")
    assert len(lines(caplog)) == 1 and "from connection 7" in lines(caplog)[0]
    clock.now += LOG_INTERVAL_S
    rejections.add(JUNK, "connection 7")
    assert len(lines(caplog)) == 2 and "19,999 more from it" in lines(caplog)[1]
    assert rejections.total == 20_001 and KEEP <= len(rejections.recent) <= 2 * KEEP
    assert rejections.recent[-1] is JUNK


def test_many_peers_at_once_share_one_budget_of_lines(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    rejections = Rejections("room r", clock=clock)
    for peer in range(5000):  # a stranger cycling connections
        rejections.add(JUNK, f"connection {peer}")
    assert len(lines(caplog)) == MAX_LINES
    clock.now += LOG_INTERVAL_S
    rejections.add(JUNK, "connection 99999")
    assert f"{5000 - MAX_LINES:,} more from others not logged" in lines(caplog)[-1]
