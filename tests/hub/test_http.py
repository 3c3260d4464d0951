"""The HTTP surface: health, Prometheus metrics that move with traffic, room creation, unloading."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pycrdt
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.support.hub_process import HubProcess
from tests.support.metrics import scrape
from tests.support.yclient import pycrdt_client
from tests.support.waiting import eventually


def test_healthz_answers_when_the_store_does(hub: HubProcess) -> None:
    response = httpx.get(f"{hub.url}/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


async def test_metrics_parse_and_move_with_traffic(hub: HubProcess) -> None:
    before = scrape(hub.url)
    assert before["collab_connections"] == 0
    url = f"{hub.ws_url}/ws/metered"
    async with pycrdt_client(url) as a, pycrdt_client(url) as b:
        ta, tb = a.get("code", type=pycrdt.Text), b.get("code", type=pycrdt.Text)
        for i in range(50):
            ta += f"{i},"
        await eventually(lambda: str(tb) == str(ta))
        during = scrape(hub.url)
        assert during["collab_connections"] == 2
        assert during["collab_rooms_loaded"] == 1
    after = scrape(hub.url)
    for counter in ("collab_messages_received_total", "collab_messages_sent_total", "collab_bytes_received_total",
                    "collab_bytes_sent_total", "collab_updates_stored_total", "collab_store_commit_seconds_count"):
        assert after[counter] > before.get(counter, 0), counter
    assert after["collab_updates_stored_total"] >= 50
    assert after["collab_connections"] == 0


def test_room_creation_api(hub: HubProcess) -> None:
    created = httpx.post(f"{hub.url}/api/rooms", json={"kind": "plaintext", "room": "design-review"})
    assert created.status_code == 201
    assert created.json()["url"].endswith("/s/design-review")
    assert httpx.post(f"{hub.url}/api/rooms", json={"room": "design-review"}).status_code == 409
    generated = httpx.post(f"{hub.url}/api/rooms", json={})
    assert generated.status_code == 201 and len(generated.json()["room"]) >= 16
    assert httpx.get(f"{hub.url}/api/rooms/design-review").json() == {"room": "design-review", "kind": "plaintext"}
    assert httpx.get(f"{hub.url}/api/rooms/nope").status_code == 404
    bad = [
        ({"kind": "secret"}, 400),
        ({"room": "../etc"}, 400),
        ({"kind": "encrypted", "room": "abc"}, 400),
        ({"kind": "encrypted", "room": "abc", "write_key": "AAAA"}, 400),
        ({"kind": "encrypted", "room": "abc", "write_key": "A" * 43, "read_key": "AAAA"}, 400),
    ]
    for body, status in bad:
        response = httpx.post(f"{hub.url}/api/rooms", json=body)
        assert response.status_code == status, body
        assert response.json()["error"]
    assert httpx.post(f"{hub.url}/api/rooms", content=b"not json").status_code == 400
    assert httpx.post(f"{hub.url}/api/rooms", content=b"{" * 20000).status_code == 413


async def close_code(url: str) -> int:
    async with connect(url) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code


async def test_require_room_creation(tmp_path: Path) -> None:
    hub = HubProcess(tmp_path / "data", "--require-room-creation").start()
    try:
        assert await close_code(f"{hub.ws_url}/ws/uninvited") == 4404
        assert httpx.post(f"{hub.url}/api/rooms", json={"room": "invited"}).status_code == 201
        async with pycrdt_client(f"{hub.ws_url}/ws/invited") as doc:
            doc.get("code", type=pycrdt.Text).insert(0, "welcome")
        assert await close_code(f"{hub.ws_url}/ws/bad%20name") == 4404
    finally:
        hub.stop()


async def test_idle_rooms_are_unloaded(tmp_path: Path) -> None:
    # A hundred new rooms from one address in seconds is what the room creation limit refuses
    # (tests/hub/test_hardening_quotas.py); this hub has it off. It unloads rooms idle for 0.5 s.
    hub = HubProcess(tmp_path / "data", "--room-idle-seconds", "0.5", "--max-rooms-per-ip-per-minute", "0").start()
    try:
        for i in range(100):
            async with pycrdt_client(f"{hub.ws_url}/ws/room-{i}") as doc:
                doc.get("code", type=pycrdt.Text).insert(0, f"room {i}")
                await asyncio.sleep(0.01)
        await eventually(lambda: scrape(hub.url)["collab_rooms_loaded"] == 0, timeout=15)
        async with pycrdt_client(f"{hub.ws_url}/ws/room-42") as doc:
            text = doc.get("code", type=pycrdt.Text)
            await eventually(lambda: str(text) == "room 42")
    finally:
        hub.stop()
