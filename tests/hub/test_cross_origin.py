"""A page on another site cannot make a visitor's browser create rooms or post to the hub."""

from __future__ import annotations

import httpx

from tests.support.hub_process import HubProcess


def test_a_cross_origin_post_is_refused_and_creates_nothing(hub: HubProcess) -> None:
    evil = httpx.post(
        f"{hub.url}/api/rooms", json={"room": "squatted"}, headers={"Origin": "https://evil.example"}
    )
    assert evil.status_code == 403
    assert "cross-origin" in evil.json()["error"]
    assert httpx.get(f"{hub.url}/api/rooms/squatted").status_code == 404
    # The hub's own page (same host) and clients that send no Origin (CLI, agents) still create rooms.
    same_site = httpx.post(f"{hub.url}/api/rooms", json={"room": "squatted"}, headers={"Origin": hub.url})
    assert same_site.status_code == 201
    assert httpx.post(f"{hub.url}/api/rooms", json={"room": "from-the-cli"}).status_code == 201


def test_an_allowed_origin_may_post(tmp_path) -> None:  # type: ignore[no-untyped-def]
    hub = HubProcess(tmp_path / "data", "--allowed-origins", "https://app.example.com").start()
    try:
        ok = httpx.post(
            f"{hub.url}/api/rooms", json={"room": "from-app"}, headers={"Origin": "https://app.example.com"}
        )
        assert ok.status_code == 201
        assert httpx.get(f"{hub.url}/healthz", headers={"Origin": "https://evil.example"}).status_code == 200
    finally:
        hub.stop()
