"""An agent name belongs to the key that first registered it (issue 13, finding 8).

Without COLLAB_AGENT_TOKEN anyone who reaches the hub may register agents. The attacker here waits
for the real agent's registration to lapse (the service stopped, the hub restarted) and registers
the same name with their own key, by raw HTTP, so that invites to the listed name are sealed to
them. The real agent restarting with its own key file must still get its name back.
"""

from __future__ import annotations

import stat
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from collab.crypto.encoding import b64url_encode
from collab.crypto.sealing import public_bytes
from tests.ai_web.support import AgentProcess, agent_process
from tests.support.hub_process import HubProcess
from tests.support.openai_stub_server import OpenAIStubServer
from tests.support.waiting import eventually


def new_key() -> str:
    return b64url_encode(public_bytes(X25519PrivateKey.generate()))


async def listed(hub: HubProcess) -> dict[str, str]:
    async with httpx.AsyncClient(base_url=hub.url) as http:
        return {a["name"]: a["public_key"] for a in (await http.get("/api/agents")).json()["agents"]}


def registered(agent: AgentProcess) -> bool:
    return "registered at" in agent.output()


async def test_a_stranger_cannot_take_a_lapsed_name_and_the_real_agent_gets_it_back(
    tmp_path: Path, stub: OpenAIStubServer
) -> None:
    data = tmp_path / "hub"
    agent_args = ["--serve", "--name", "ai", "--data", str(tmp_path / "agent")]
    hub = HubProcess(data).start()
    try:
        async with agent_process([*agent_args, "--hub", hub.url], stub) as agent:
            await eventually(lambda: registered(agent), 30, what="the agent service registering")
            real_key = (await listed(hub))["ai"]
    finally:
        hub.stop()
    # The hub restarts: the registration's lease is gone with the process, the binding is not.
    hub = HubProcess(data).start()
    try:
        async with httpx.AsyncClient(base_url=hub.url) as http:
            squat = await http.post("/api/agents", json={"name": "ai", "public_key": new_key(), "model": "evil"})
            assert squat.status_code == 409, squat.text
            assert "belongs to another key" in squat.json()["error"]
        assert "ai" not in await listed(hub)
        async with agent_process([*agent_args, "--hub", hub.url], stub) as agent:
            await eventually(lambda: registered(agent), 30, what="the restarted agent service registering")
            assert (await listed(hub))["ai"] == real_key
            assert "refused" not in agent.output()  # the refusal line, not "409": ports and fingerprints hold it too
    finally:
        hub.stop()
    bindings = data / "agent-names.json"
    assert stat.S_IMODE(bindings.stat().st_mode) == 0o600


async def test_the_holder_re_registers_and_other_names_stay_free(hub: HubProcess) -> None:
    mine, theirs = new_key(), new_key()
    async with httpx.AsyncClient(base_url=hub.url) as http:
        assert (await http.post("/api/agents", json={"name": "ai", "public_key": mine})).status_code == 200
        assert (await http.post("/api/agents", json={"name": "ai", "public_key": mine})).status_code == 200
        taken = await http.post("/api/agents", json={"name": "ai", "public_key": theirs})
        assert taken.status_code == 409 and "running agent" in taken.json()["error"]
        assert (await http.post("/api/agents", json={"name": "other", "public_key": theirs})).status_code == 200


async def test_with_an_agent_token_a_token_holder_may_re_deploy_a_name_with_a_new_key(tmp_path: Path) -> None:
    env = {"COLLAB_AGENT_TOKEN": "s3cret-token-for-tests"}
    auth = {"Authorization": "Bearer s3cret-token-for-tests"}
    for deployment in ("first key", "new key after a restart"):
        hub = HubProcess(tmp_path / "hub", env=env).start()
        try:
            async with httpx.AsyncClient(base_url=hub.url, headers=auth) as http:
                reply = await http.post("/api/agents", json={"name": "ai", "public_key": new_key()})
                assert reply.status_code == 200, (deployment, reply.text)
        finally:
            hub.stop()
