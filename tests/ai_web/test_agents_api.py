"""The hub's agent directory and the agent service, without a browser: register, list, invite, join, leave."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pycrdt
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from collab.crypto.encoding import fingerprint
from collab.crypto.sealing import SealError, SealedInvite, public_bytes, seal, unseal
from collab.workspace import AGENTS as ROOM_AGENTS
from collab.client.session import Session
from collab.commands.new import create_encrypted_room
from collab.crypto.keys import RoomKeys, b64url_encode, generate_write_secret
from collab.crypto.links import write_link
from tests.support.hub_process import HubProcess
from tests.support.waiting import eventually


def test_seal_round_trip_and_what_it_refuses() -> None:
    keys = RoomKeys.from_write_secret(generate_write_secret())
    agent = X25519PrivateKey.generate()
    invite = seal(keys, public_bytes(agent))
    assert unseal(SealedInvite.from_json(invite.to_json()), agent) == keys
    with pytest.raises(SealError, match="not sealed to this agent"):
        unseal(invite, X25519PrivateKey.generate())
    other = RoomKeys.from_write_secret(generate_write_secret())
    moved = SealedInvite(other.room_id, invite.ephemeral, invite.nonce, invite.ciphertext)
    with pytest.raises(SealError):  # the hub cannot re-address an invite to another room
        unseal(moved, agent)
    flipped = invite.ciphertext[:-1] + bytes([invite.ciphertext[-1] ^ 1])
    with pytest.raises(SealError):
        unseal(SealedInvite(invite.room, invite.ephemeral, invite.nonce, flipped), agent)
    read_only = seal(keys.read_only(), public_bytes(agent))
    opened = unseal(read_only, agent)
    assert opened.room_id == keys.room_id and opened.write_secret is None
    assert len(fingerprint(public_bytes(agent)).split()) == 8


async def test_directory_limits_and_errors(hub: HubProcess) -> None:
    key = b64url_encode(public_bytes(X25519PrivateKey.generate()))
    async with httpx.AsyncClient(base_url=hub.url) as http:
        bad = await http.post("/api/agents", json={"name": "Bad Name!", "public_key": key})
        assert bad.status_code == 400 and "name" in bad.json()["error"]
        short = await http.post("/api/agents", json={"name": "pair", "public_key": "AAAA"})
        assert short.status_code == 400 and "32 bytes" in short.json()["error"]
        big = await http.post("/api/agents", content=b"{" + b" " * 5000 + b"}")
        assert big.status_code == 413
        ok = await http.post("/api/agents", json={"name": "pair", "public_key": key, "model": "m", "backend": "builtin"})
        assert ok.status_code == 200
        other = b64url_encode(public_bytes(X25519PrivateKey.generate()))
        taken = await http.post("/api/agents", json={"name": "pair", "public_key": other})
        assert taken.status_code == 409
        listed = (await http.get("/api/agents")).json()["agents"]
        assert [a["name"] for a in listed] == ["pair"] and listed[0]["fingerprint"]
        nobody = await http.post("/api/agents/ghost/invites", json={})
        assert nobody.status_code == 404
        junk = await http.post("/api/agents/pair/invites", json={"room": "x", "ephemeral": "y", "nonce": "z", "ciphertext": "w"})
        assert junk.status_code == 400 and "room" in junk.json()["error"]


async def test_service_joins_from_a_sealed_invite_and_leaves_when_removed(hub: HubProcess, tmp_path: Path) -> None:
    keys = create_encrypted_room(hub.url)
    link = write_link(hub.url, keys)
    env = {**os.environ, "COLLAB_AGENT_MODEL": "builtin"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "collab.cli", "agent", "--serve", "--hub", hub.url, "--name", "pair", "--data", str(tmp_path / "agent")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )
    try:
        async with httpx.AsyncClient(base_url=hub.url) as http:
            async def listed() -> list[dict[str, str]]:
                return (await http.get("/api/agents")).json()["agents"]

            agent = (await eventually(listed, 10, interval=0.05, what="the agent registered"))[0]
            key_file = tmp_path / "agent" / "agents" / "pair.x25519"
            assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
            agent_key = X25519PrivateKey.from_private_bytes(key_file.read_bytes())
            assert agent["public_key"] == b64url_encode(public_bytes(agent_key))
            async with Session.connect(link, name="ann") as ann:
                sealed = seal(keys, public_bytes(agent_key))
                posted = await http.post("/api/agents/pair/invites", json=sealed.to_json())
                assert posted.status_code == 202
                await eventually(lambda: any("agent" in s for s in ann.peers().values()), 20)
                ann.doc.get(ROOM_AGENTS, type=pycrdt.Map)["pair"] = {"status": "removed", "by": "ann"}
                await eventually(lambda: not any("agent" in s for s in ann.peers().values()), 20)
    finally:
        proc.terminate()
        out = proc.communicate(timeout=15)[0]
    assert keys.write_secret is not None
    assert b64url_encode(keys.write_secret) not in out + hub.log()
    assert "joined room" in out and "removed by a participant" in out
