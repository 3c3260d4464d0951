"""infra/run-local.py starts the compose topology natively (Redis, two hubs, Caddy with TLS).
Through the load balancer: clients share a room over wss, and when one hub is killed with -9 while
they type, they reconnect through Caddy to the other hub and nothing anyone typed is lost."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Iterator

import httpx
import pycrdt
import pytest

from collab.crypto.sealing import seal
from collab.client.session import Session
from collab.commands.new import create_encrypted_room
from collab.crypto.keys import b64url_decode, b64url_encode
from collab.crypto.links import write_link
from tests.redis.reconnecting import ReconnectingClient, Typists, marks
from tests.support.metrics import scrape
from tests.support.yclient import pycrdt_client
from tests.support.waiting import eventually

ROOT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def run_local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *extra: str) -> Iterator[dict[str, Any]]:
    for tool in ("redis-server", "caddy"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (apt-get install redis-server caddy)")
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "infra" / "run-local.py"), "--https-port", "0", "--dir", str(tmp_path / "local"), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
    )
    lines: list[str] = []
    ready: dict[str, Any] = {}
    got = threading.Event()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("{") and not got.is_set():
                ready.update(json.loads(line))
                got.set()

    threading.Thread(target=pump, daemon=True).start()
    try:
        if not got.wait(60):
            raise RuntimeError("run-local did not get ready:\n" + "".join(lines))
        # Python's TLS then trusts Caddy's local CA, as a browser would after installing it.
        monkeypatch.setenv("SSL_CERT_FILE", ready["ca"])
        yield ready
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def topology(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    with run_local(tmp_path, monkeypatch) as ready:
        yield ready


async def test_kill_9_a_hub_behind_the_load_balancer(topology: dict[str, Any]) -> None:
    lb = topology["url"]
    async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=topology["ca"])) as http:
        assert (await http.get(f"{lb}/healthz")).status_code == 200
    room = lb.replace("https://", "wss://", 1) + "/ws/behind-caddy"
    clients = [ReconnectingClient([room]) for _ in range(4)]
    async with contextlib.AsyncExitStack() as stack:
        for client in clients:
            await stack.enter_async_context(client.running())
        typists = Typists(clients)
        typists.start()
        await eventually(lambda: all(len(t) >= 20 for t in typists.typed), timeout=20)
        # Room affinity (infra/Caddyfile): all four are on the room's one hub, the one to kill.
        on_hub = [scrape(hub["url"])["collab_connections"] for hub in topology["hubs"]]
        assert sorted(on_hub) == [0, 4]
        victim = topology["hubs"][on_hub.index(4)]
        os.kill(victim["pid"], signal.SIGKILL)
        received_before_kill = typists.received()
        await eventually(lambda: all(len(t) >= 60 for t in typists.typed), timeout=20)
        await typists.stop()
        final = await typists.converge()
        assert received_before_kill <= marks(final)
    # All four were on the killed hub: each came back through Caddy, to the other one.
    assert all(c.connects > 1 for c in clients)
    async with pycrdt_client(room) as late:
        text = late.get("code", type=pycrdt.Text)
        await eventually(lambda: str(text) == final)


async def test_agent_service_behind_the_load_balancer_outlives_a_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--agent` runs the compose agent service: listed through the TLS address, and with one hub
    killed it still takes an invite posted through Caddy and joins the room."""
    with run_local(tmp_path, monkeypatch, "--agent") as topology:
        lb = topology["url"]
        assert topology["agent"]["name"] == "ai" and topology["internal"].startswith("http://127.0.0.1:")
        os.kill(topology["hubs"][0]["pid"], signal.SIGKILL)
        async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=topology["ca"]), timeout=30) as http:
            (agent,) = (await http.get(f"{lb}/api/agents")).json()["agents"]
            assert agent["name"] == "ai" and agent["backend"] == "builtin"
        keys = create_encrypted_room(lb)
        async with Session.connect(write_link(lb, keys), name="ann") as ann:
            sealed = seal(keys, b64url_decode(agent["public_key"])).to_json()
            async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=topology["ca"]), timeout=30) as http:
                posted = await http.post(f"{lb}/api/agents/ai/invites", json=sealed)
            assert posted.status_code == 202
            await eventually(lambda: any("agent" in s for s in ann.peers().values()), 30)
        log = Path(topology["agent"]["log"]).read_text()
        assert "joined room" in log
        assert keys.write_secret is not None and b64url_encode(keys.write_secret) not in log
