"""The agent service's key outlives restarts, because the hub binds its name to that key (issue 13,
finding 8, the service's side): kept private in the data folder, made durable before it is ever
registered, and a name bound to another key is one line that says which key this service has.
Real hub process, real `collab agent --serve` process."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from collab.crypto.encoding import b64url_encode, fingerprint
from collab.crypto.sealing import public_bytes
from tests.ai_web.support import AgentProcess, agent_process
from tests.support.hub_process import HubProcess
from tests.support.openai_stub_server import OpenAIStubServer
from tests.support.waiting import eventually


async def listed(hub: HubProcess) -> dict[str, str]:
    async with httpx.AsyncClient(base_url=hub.url) as http:
        return {a["name"]: a["public_key"] for a in (await http.get("/api/agents")).json()["agents"]}


def registered(agent: AgentProcess) -> bool:
    return "registered at" in agent.output()


def shown_fingerprint(agent: AgentProcess) -> str:
    found = re.search(r"key fingerprint ((?:[0-9a-f]{4} ){7}[0-9a-f]{4})", agent.output())
    assert found, agent.output()
    return found[1]


def key_of(key_file: Path) -> str:
    return b64url_encode(public_bytes(X25519PrivateKey.from_private_bytes(key_file.read_bytes())))


async def test_a_restarted_service_keeps_its_key_and_its_name_in_private_folders(
    tmp_path: Path, stub: OpenAIStubServer
) -> None:
    data = tmp_path / "agent-data"  # made by the service, like a fresh COLLAB_DATA
    args = ["--serve", "--name", "ai", "--data", str(data)]
    hub = HubProcess(tmp_path / "hub").start()
    try:
        async with agent_process([*args, "--hub", hub.url], stub) as first:
            await eventually(lambda: registered(first), 30, what="the agent service registering")
            key = (await listed(hub))["ai"]
        key_file = data / "agents" / "ai.x25519"
        assert key_of(key_file) == key
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert [stat.S_IMODE(p.stat().st_mode) for p in (data, data / "agents")] == [0o700, 0o700]
        async with agent_process([*args, "--hub", hub.url], stub) as again:
            await eventually(lambda: registered(again), 30, what="the restarted agent service registering")
            assert (await listed(hub))["ai"] == key and "refused" not in again.output()
        assert shown_fingerprint(again) == shown_fingerprint(first)
    finally:
        hub.stop()


async def test_a_key_file_a_crash_left_empty_gets_a_new_key_and_the_service_starts(
    tmp_path: Path, stub: OpenAIStubServer
) -> None:
    # What a crash between creating the file and writing the key leaves: that key never existed,
    # so it cannot have been registered anywhere.
    key_file = tmp_path / "agent-data" / "agents" / "ai.x25519"
    key_file.parent.mkdir(parents=True, mode=0o700)
    key_file.touch(mode=0o600)
    hub = HubProcess(tmp_path / "hub").start()
    try:
        async with agent_process(["--serve", "--data", str(tmp_path / "agent-data"), "--hub", hub.url], stub) as agent:
            await eventually(lambda: registered(agent), 30, what="the agent service registering")
            assert (await listed(hub))["ai"] == key_of(key_file)
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    finally:
        hub.stop()


async def test_a_name_bound_to_another_key_is_one_line_naming_this_services_key(
    tmp_path: Path, stub: OpenAIStubServer
) -> None:
    hub_data = tmp_path / "hub"
    hub = HubProcess(hub_data).start()
    try:
        async with agent_process(["--serve", "--data", str(tmp_path / "owner"), "--hub", hub.url], stub) as owner:
            await eventually(lambda: registered(owner), 30, what="the name's owner registering")
    finally:
        hub.stop()
    # The hub restarts: the owner's lease is gone, its binding of the name is not.
    hub = HubProcess(hub_data).start()
    try:
        other = tmp_path / "other"
        async with agent_process(["--serve", "--data", str(other), "--hub", hub.url], stub) as agent:
            code = await eventually(agent.proc.poll, 30, what="the refused service exiting")
        assert code == 1, agent.output()
        output = agent.output()
        assert "Traceback" not in output and "retrying" not in output, output
        line = output.strip().splitlines()[-1]
        key_file = other / "agents" / "ai.x25519"
        mine = fingerprint(public_bytes(X25519PrivateKey.from_private_bytes(key_file.read_bytes())))
        assert line.startswith(f"collab agent: the hub at {hub.url} refused to list this agent (409): "), line
        assert "the name 'ai' belongs to another key" in line, line
        assert line.endswith(f"(this service's key is {key_file}, fingerprint {mine})"), line
        assert "listing ends a minute after it stops" not in line  # it is not running: that would mislead
    finally:
        hub.stop()
