"""The agent's invite-ack (collab/crypto/invite_ack.py): it proves possession of the key sealed to,
for that invite, room, name and client only; tests/vectors/invite_ack.json holds Python and the page
(web/test/inviteack.test.ts) to the same bytes."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from collab.crypto.encoding import b64url_decode
from collab.crypto.invite_ack import check_ack, make_ack
from collab.crypto.keys import RoomKeys
from collab.crypto.sealing import SealedInvite, public_bytes, seal, unseal
from tests.vectors.make_invite_ack_vectors import build

VECTORS = Path(__file__).parents[1] / "vectors"


def _vectors() -> tuple[dict[str, Any], dict[str, Any]]:
    return json.loads((VECTORS / "invite_ack.json").read_text()), json.loads((VECTORS / "seal.json").read_text())


def test_the_vector_file_is_current() -> None:
    assert _vectors()[0] == json.loads(json.dumps(build(), ensure_ascii=False))


@pytest.mark.parametrize("index", [0, 1])
def test_vectors(index: int) -> None:
    v, s = _vectors()
    case = v["acks"][index]
    agent = X25519PrivateKey.from_private_bytes(bytes.fromhex(s["agent"]["private"]))
    eph = X25519PrivateKey.from_private_bytes(bytes.fromhex(v["ephemeral_private"]))
    invite = SealedInvite.from_json(s["seals"][v["seal_case"]]["invite"])
    ack = make_ack(invite, agent, case["name"], case["client"])
    assert ack.mac.hex() == case["mac"] and ack.to_json() == case["entry"] and ack.invite_id == case["invite_id"]
    public = public_bytes(agent)
    assert check_ack(eph, invite.room, public, case["name"], case["client"], bytes.fromhex(case["mac"]))
    for wrong in v["wrong"]:
        args = {"name": case["name"], "client": case["client"], "mac": bytes.fromhex(case["mac"])}
        args[wrong["field"]] = bytes.fromhex(wrong["value"]) if wrong["field"] == "mac" else wrong["value"]
        assert not check_ack(eph, invite.room, public, args["name"], args["client"], args["mac"]), wrong


def _invite(agent_public: bytes) -> tuple[RoomKeys, SealedInvite, X25519PrivateKey]:
    keys = RoomKeys.from_write_secret(os.urandom(32))
    eph = X25519PrivateKey.generate()
    return keys, seal(keys, agent_public, ephemeral=eph), eph


def test_only_the_key_sealed_to_can_confirm() -> None:
    real, substitute = X25519PrivateKey.generate(), X25519PrivateKey.generate()
    keys, invite, eph = _invite(public_bytes(real))
    assert unseal(invite, real).room_id == keys.room_id
    good = make_ack(invite, real, "pair", 42)
    assert check_ack(eph, keys.room_id, public_bytes(real), "pair", 42, good.mac)
    # Someone holding another key (the room link, but not the agent's key) cannot make the MAC.
    forged = make_ack(invite, substitute, "pair", 42)
    assert not check_ack(eph, keys.room_id, public_bytes(real), "pair", 42, forged.mac)
    assert not check_ack(eph, keys.room_id, public_bytes(real), "pair", 42, os.urandom(32))


def test_an_ack_is_bound_to_its_invite_room_name_and_client() -> None:
    agent = X25519PrivateKey.generate()
    keys, invite, eph = _invite(public_bytes(agent))
    mac = make_ack(invite, agent, "pair", 42).mac
    other_keys, _, other_eph = _invite(public_bytes(agent))
    assert not check_ack(other_eph, keys.room_id, public_bytes(agent), "pair", 42, mac)  # another invite
    assert not check_ack(eph, other_keys.room_id, public_bytes(agent), "pair", 42, mac)  # another room
    assert not check_ack(eph, keys.room_id, public_bytes(agent), "pairs", 42, mac)  # another name
    assert not check_ack(eph, keys.room_id, public_bytes(agent), "pair", 43, mac)  # another participant
    assert b64url_decode(make_ack(invite, agent, "pair", 42).to_json()["mac"]) == mac


def test_client_ids_are_64_bit() -> None:
    agent = X25519PrivateKey.generate()
    _, invite, _ = _invite(public_bytes(agent))
    with pytest.raises(ValueError):
        make_ack(invite, agent, "pair", 2**64)
