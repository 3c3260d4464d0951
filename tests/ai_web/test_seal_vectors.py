"""The sealed-invite test vectors (tests/vectors/seal.json) against collab/crypto/sealing.py.

web/test/seal.test.ts runs the same file against the browser's WebCrypto code, so a page's invite
opens in the agent service and both sides refuse the same tampered invites for the same reason."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from collab.crypto.encoding import fingerprint
from collab.crypto.sealing import LABEL, SealError, SealedInvite, key_and_aad, public_bytes, seal, unseal
from collab.crypto.keys import RoomKeys

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
V: dict[str, Any] = json.loads((VECTORS / "seal.json").read_text())
AGENT = X25519PrivateKey.from_private_bytes(bytes.fromhex(V["agent"]["private"]))


def room_keys(secret: str) -> RoomKeys:
    keys = RoomKeys.from_write_secret(bytes.fromhex(V["room"]["write_secret"]))
    return keys if secret == "write" else keys.read_only()


def test_vectors_are_current() -> None:
    done = subprocess.run([sys.executable, str(VECTORS / "make_seal_vectors.py"), "--check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_agent_key_room_and_label() -> None:
    assert V["format"] == "collab-seal-vectors" and V["version"] == 1
    assert V["label"].encode() == LABEL
    assert public_bytes(AGENT).hex() == V["agent"]["public"]
    assert fingerprint(public_bytes(AGENT)) == V["agent"]["fingerprint"]
    keys = room_keys("write")
    assert keys.room_id == V["room"]["room_id"] and keys.read_capability.hex() == V["room"]["read_capability"]


@pytest.mark.parametrize("case", V["seals"], ids=lambda c: c["secret"])
def test_sealing_fixed_inputs_gives_the_vector_and_opens_back(case: dict[str, Any]) -> None:
    keys = room_keys(case["secret"])
    ephemeral = X25519PrivateKey.from_private_bytes(bytes.fromhex(case["ephemeral_private"]))
    assert public_bytes(ephemeral).hex() == case["ephemeral_public"]
    shared = ephemeral.exchange(AGENT.public_key())
    assert shared.hex() == case["shared"] == AGENT.exchange(ephemeral.public_key()).hex()
    key, aad = key_and_aad(shared, keys.room_id, public_bytes(AGENT), public_bytes(ephemeral))
    assert (key.hex(), aad.hex()) == (case["key"], case["aad"])
    sealed = seal(keys, public_bytes(AGENT), ephemeral=ephemeral, nonce=bytes.fromhex(case["nonce"]))
    assert sealed.to_json() == case["invite"]
    opened = unseal(SealedInvite.from_json(case["invite"]), AGENT)
    assert opened.room_id == keys.room_id
    assert opened.write_secret == keys.write_secret and opened.read_capability == keys.read_capability


@pytest.mark.parametrize("case", V["tampered"], ids=lambda c: c["why"])
def test_tampered_invites_are_refused_for_the_stated_reason(case: dict[str, Any]) -> None:
    agent = AGENT
    if "agent_private" in case:
        agent = X25519PrivateKey.from_private_bytes(bytes.fromhex(case["agent_private"]))
    assert case["error"] == "SealError"
    with pytest.raises(SealError) as caught:
        unseal(SealedInvite.from_json(case["invite"]), agent)
    assert caught.value.reason == case["reason"], f"{case['why']}: {caught.value}"
    assert V["room"]["write_secret"] not in str(caught.value)
