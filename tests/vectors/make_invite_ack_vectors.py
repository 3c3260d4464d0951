"""Regenerate tests/vectors/invite_ack.json, the vectors for agent invite confirmations (docs/e2ee.md).

    .venv/bin/python tests/vectors/make_invite_ack_vectors.py           # rewrite invite_ack.json
    .venv/bin/python tests/vectors/make_invite_ack_vectors.py --check   # exit 1 if it is stale

The construction is collab/crypto/invite_ack.py (the agent service makes acks) and
web/src/crypto/inviteack.ts (the page checks them). Inputs come from tests/vectors/seal.json: its
agent key and its first (write-secret) invite, so the ephemeral key is fixed too.

Format: byte strings are lowercase hex. ``acks``: name, client (the agent's Yjs client id, a number;
one above 2^32 so both sides encode it as 64 bits), message (what is MACed), ack_key, mac, entry
(what goes into the document's ``invite_acks`` map under ``invite_id``). ``wrong``: the same ack
checked with one input changed (field, value); each must fail.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from collab.crypto.invite_ack import ACK_LABEL, ACKS_MAP, ack_key, ack_message, make_ack
from collab.crypto.sealing import SealedInvite

HERE = Path(__file__).parent
OUT = HERE / "invite_ack.json"


def build() -> dict[str, Any]:
    seal = json.loads((HERE / "seal.json").read_text())
    agent = X25519PrivateKey.from_private_bytes(bytes.fromhex(seal["agent"]["private"]))
    case = seal["seals"][0]
    invite = SealedInvite.from_json(case["invite"])
    agent_public = bytes.fromhex(seal["agent"]["public"])
    shared = agent.exchange(X25519PublicKey.from_public_bytes(invite.ephemeral))
    acks = []
    for name, client in (("pair", 7067932800723836), ("résumé-bot", 1)):
        ack = make_ack(invite, agent, name, client)
        acks.append({
            "name": name,
            "client": client,
            "message": ack_message(invite.room, agent_public, invite.ephemeral, client, name).hex(),
            "ack_key": ack_key(shared, agent_public, invite.ephemeral).hex(),
            "mac": ack.mac.hex(),
            "invite_id": ack.invite_id,
            "entry": ack.to_json(),
        })
    wrong = [
        {"field": "client", "value": 7067932800723837},
        {"field": "name", "value": "pair2"},
        {"field": "mac", "value": "00" * 32},
    ]
    return {
        "format": "collab-invite-ack-vectors",
        "version": 1,
        "label": ACK_LABEL.decode(),
        "map": ACKS_MAP,
        "seal_case": 0,
        "ephemeral_private": case["ephemeral_private"],
        "acks": acks,
        "wrong": wrong,
    }


def main() -> int:
    text = json.dumps(build(), indent=1, ensure_ascii=False) + "\n"
    if "--check" in sys.argv:
        stale = not OUT.exists() or OUT.read_text() != text
        print(f"{OUT} is {'stale' if stale else 'up to date'}")
        return 1 if stale else 0
    OUT.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
