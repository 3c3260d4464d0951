"""Room creation by POST /api/rooms is limited per client address (issue 13, finding 12).

The attacker needs no account: one script POSTed 2,000 rooms in 7 s, every one of them kept for
good. Now each address gets a minute's worth at once (30 by default), then one every 60/N seconds,
and a refused POST says so with 429 and Retry-After; --max-rooms-per-ip-per-minute changes N.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.support.hub_process import HubProcess
from tests.support.waiting import eventually

DEFAULT_PER_MINUTE = 30


async def flood(hub: HubProcess, count: int) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=hub.url) as http:
        return [await http.post("/api/rooms", json={}) for _ in range(count)]


async def test_a_flood_of_room_creations_from_one_address_is_refused_with_429_and_retry_after(hub: HubProcess) -> None:
    replies = await flood(hub, DEFAULT_PER_MINUTE + 10)
    statuses = [r.status_code for r in replies]
    assert statuses[:DEFAULT_PER_MINUTE] == [201] * DEFAULT_PER_MINUTE  # a script that sets up rooms still works
    assert set(statuses[DEFAULT_PER_MINUTE:]) == {429}
    refused = replies[-1]
    assert 1 <= int(refused.headers["retry-after"]) <= 2
    assert "too many rooms created from your address" in refused.json()["error"]
    assert "30 a minute" in refused.json()["error"]
    async with httpx.AsyncClient(base_url=hub.url) as http:
        assert (await http.get("/healthz")).status_code == 200  # the rest of the hub is unaffected


async def test_the_limit_is_a_setting_and_refills_over_time(tmp_path: Path) -> None:
    hub = HubProcess(tmp_path / "data", "--max-rooms-per-ip-per-minute", "120").start()  # one every 0.5 s
    try:
        statuses = [r.status_code for r in await flood(hub, 160)]
        assert 429 in statuses and statuses.index(429) >= 120  # tokens refill while the flood runs
        async with httpx.AsyncClient(base_url=hub.url) as http:
            async def created() -> bool:
                return (await http.post("/api/rooms", json={})).status_code == 201

            await eventually(created, 5, what="a token refilled")
    finally:
        hub.stop()


async def test_zero_turns_the_limit_off(tmp_path: Path) -> None:
    hub = HubProcess(tmp_path / "data", env={"COLLAB_MAX_ROOMS_PER_IP_PER_MINUTE": "0"}).start()
    try:
        assert {r.status_code for r in await flood(hub, DEFAULT_PER_MINUTE + 5)} == {201}
    finally:
        hub.stop()
