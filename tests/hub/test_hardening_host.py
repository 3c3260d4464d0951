"""A page on another site cannot reach a local hub through DNS rebinding (issue 13, low).

The attacker's page on evil.example points its own name at 127.0.0.1: to the browser it stays
same-origin, so its Origin (http://evil.example:PORT) matches its Host and the Origin check passes.
What gives it away is the Host header, which the hub now checks. Raw HTTP, so every header is
exactly what the rebinding browser sends.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from tests.support.hub_process import HubProcess
from tests.support.raw_http import http_get, send_upgrade


async def test_a_foreign_host_name_gets_421_for_pages_the_api_and_websockets(hub: HubProcess) -> None:
    evil = f"evil.example:{hub.port}"
    for path in ("/", "/api/rooms/x", "/metrics"):
        status, answer = await asyncio.to_thread(http_get, hub.port, path, evil)
        assert status == 421, (path, answer[:300])
        assert "does not answer to the name evil.example" in answer
        assert "--allowed-hosts evil.example" in answer
    upgrade = await asyncio.to_thread(
        send_upgrade, hub.port, "/ws/room", host=evil, headers={"Origin": f"http://{evil}"}
    )
    assert upgrade.status == 421, upgrade.head
    assert "evil.example" in json.loads(upgrade.sock.recv(4096).decode())["error"]
    upgrade.sock.close()


async def test_local_names_addresses_and_health_checks_still_work(hub: HubProcess) -> None:
    for host in (f"127.0.0.1:{hub.port}", f"localhost:{hub.port}", "[::1]", "10.0.0.5:8000", "LOCALHOST."):
        status, answer = await asyncio.to_thread(http_get, hub.port, "/api/rooms/x", host)
        assert status == 404, (host, answer[:300])  # past the check: no such room
    # A load balancer probes by its upstream's name (Caddy: hub-a:8000).
    status, _ = await asyncio.to_thread(http_get, hub.port, "/healthz", "hub-a:8000")
    assert status == 200
    upgrade = await asyncio.to_thread(send_upgrade, hub.port, "/ws/room", host=f"localhost:{hub.port}")
    assert upgrade.status == 101
    upgrade.sock.close()


async def test_allowed_hosts_and_the_hosts_of_allowed_origins_are_accepted(tmp_path: Path) -> None:
    hub = HubProcess(
        tmp_path / "data", "--allowed-hosts", "collab.example.org,caddy",
        "--allowed-origins", "https://app.example.com",
    ).start()
    try:
        for host in ("collab.example.org", "caddy:8080", "app.example.com"):
            status, answer = await asyncio.to_thread(http_get, hub.port, "/api/rooms/x", host)
            assert status == 404, (host, answer[:300])
        status, _ = await asyncio.to_thread(http_get, hub.port, "/api/rooms/x", "evil.example")
        assert status == 421
    finally:
        hub.stop()
    hub = HubProcess(tmp_path / "data2", env={"COLLAB_ALLOWED_HOSTS": "*"}).start()
    try:
        status, _ = await asyncio.to_thread(http_get, hub.port, "/api/rooms/x", "anything.example")
        assert status == 404
    finally:
        hub.stop()
