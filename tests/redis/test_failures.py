"""Nothing acknowledged is lost when a hub or Redis dies, and everything recovers by itself."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import httpx
import pycrdt

from tests.support.hub_process import start_hub
from tests.redis.reconnecting import ReconnectingClient, Typists, marks
from tests.support.redis_server import RedisServer
from tests.support.hub_process import HubProcess
from tests.support.yclient import pycrdt_client
from tests.support.waiting import eventually


async def test_kill_9_a_hub_while_its_clients_type(two_hubs: tuple[HubProcess, HubProcess]) -> None:
    a, b = two_hubs
    room_a, room_b = f"{a.ws_url}/ws/crash", f"{b.ws_url}/ws/crash"
    # Half the clients start on each hub; each falls back to the other one when its hub is gone.
    clients = [ReconnectingClient([room_a, room_b] if i % 2 == 0 else [room_b, room_a]) for i in range(6)]
    async with contextlib.AsyncExitStack() as stack:
        for client in clients:
            await stack.enter_async_context(client.running())
        typists = Typists(clients)
        typists.start()
        await eventually(lambda: all(len(t) >= 20 for t in typists.typed), timeout=20)
        b.kill()
        received_before_kill = typists.received()
        await eventually(lambda: all(c.connected.is_set() and c.url == room_a for c in clients), timeout=20)
        await eventually(lambda: all(len(t) >= 60 for t in typists.typed), timeout=20)
        await typists.stop()
        final = await typists.converge()
        assert received_before_kill <= marks(final)
        assert any(c.connects > 1 for c in clients)
    async with pycrdt_client(room_a) as late:
        late_text = late.get("code", type=pycrdt.Text)
        await eventually(lambda: str(late_text) == final)


async def wait_for_health(http: httpx.AsyncClient, hub: HubProcess, status: int, timeout: float = 20) -> None:
    """Poll /healthz until it answers ``status`` (what a load balancer's health check would see)."""

    async def answers() -> bool:
        try:
            return (await http.get(f"{hub.url}/healthz", timeout=5)).status_code == status
        except httpx.HTTPError:
            return False

    await eventually(answers, timeout, interval=0.05, what=f"{hub.url}/healthz answering {status}")


async def test_redis_restart_during_typing_loses_nothing_acknowledged(
    tmp_path: Path, redis_server: RedisServer, two_hubs: tuple[HubProcess, HubProcess]
) -> None:
    a, b = two_hubs
    urls = [f"{a.ws_url}/ws/restart", f"{b.ws_url}/ws/restart"]
    clients = [ReconnectingClient([urls[i % 2]]) for i in range(4)]
    async with contextlib.AsyncExitStack() as stack, httpx.AsyncClient() as http:
        for client in clients:
            await stack.enter_async_context(client.running())
        typists = Typists(clients)
        typists.start()
        await eventually(lambda: all(len(t) >= 20 for t in typists.typed), timeout=20)
        redis_server.kill()  # kill -9: with appendfsync always, every reply it gave is on disk
        acknowledged = typists.received()
        for hub in (a, b):
            await wait_for_health(http, hub, 503)
        await asyncio.sleep(0.5)  # typing goes on against hubs that cannot store it
        assert all(c.connected.is_set() for c in clients), "hubs must keep websockets open"
        redis_server.start()
        for hub in (a, b):
            await wait_for_health(http, hub, 200)
        await eventually(lambda: all(len(t) >= 80 for t in typists.typed), timeout=20)
        await typists.stop()
        final = await typists.converge()
        assert acknowledged <= marks(final)
        assert all(c.connects == 1 for c in clients), "clients never had to reconnect"
    for hub in (a, b):
        assert "store is back" in hub.log()  # the refused writers were asked to re-send
    # Durable in Redis, not just in the hubs' memory: kill Redis again, and a brand-new hub
    # that never saw this room loads it from the AOF.
    redis_server.kill()
    redis_server.start()
    c = start_hub(tmp_path, "hub-c", redis_server.url)
    try:
        async with pycrdt_client(f"{c.ws_url}/ws/restart") as fresh:
            fresh_text = fresh.get("code", type=pycrdt.Text)
            await eventually(lambda: str(fresh_text) == final, timeout=15)
    finally:
        c.stop()
