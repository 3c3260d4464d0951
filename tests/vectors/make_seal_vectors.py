"""Regenerate tests/vectors/seal.json, the shared test vectors for sealed agent invites (docs/ai.md).

    .venv/bin/python tests/vectors/make_seal_vectors.py           # rewrite seal.json
    .venv/bin/python tests/vectors/make_seal_vectors.py --check   # exit 1 if seal.json is stale

The construction is collab/crypto/sealing.py (Python, the agent service opens invites) and
web/src/crypto/seal.ts (WebCrypto, the page seals them). Every input is fixed (agent key, ephemeral
keys, nonces, the room's write secret 00 01 … 1f as in e2ee.json), and X25519, HKDF and AES-GCM are
deterministic once those are, so the output is byte-for-byte reproducible. Both implementations
must seal the inputs to exactly ``invite`` and open it back, and refuse every ``tampered`` case.

Format
------
Byte strings are lowercase hex; ``invite`` objects are what the hub relays (base64url fields,
as POST /api/agents/{name}/invites takes them). X25519 private keys are the raw 32 bytes.

- ``label``: the ASCII HKDF info and associated-data prefix.
- ``agent``: private, public, public_b64url and fingerprint (what the page shows).
- ``room``: write_secret, room_id, read_capability.
- ``seals``: secret ("write": the write secret, "read": the read capability), ephemeral_private,
  ephemeral_public, nonce; the intermediate shared (X25519), key (HKDF-SHA256, salt = E || A),
  aad; plaintext (the exact JSON sealed) and invite.
- ``tampered``: invites that opening with the agent key must refuse: error ("SealError"),
  reason (malformed, ephemeral, tag, plaintext, room, secret — both implementations give these
  codes) and why (human text, not compared). ``agent_private`` overrides the agent key to open
  with, when the case is "sealed to someone else".
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from collab.crypto.encoding import fingerprint
from collab.crypto.sealing import (
    LABEL,
    SealedInvite,
    key_and_aad,
    public_bytes,
    seal,
    seal_plaintext,
)
from collab.crypto.keys import RoomKeys, b64url_decode, b64url_encode

OUTPUT = Path(__file__).with_name("seal.json")

WRITE_SECRET = bytes(range(32))
OTHER_SECRET = bytes(range(0xE0, 0x100))
AGENT = X25519PrivateKey.from_private_bytes(bytes(range(0x40, 0x60)))
OTHER_AGENT = X25519PrivateKey.from_private_bytes(bytes(range(0xC0, 0xE0)))


def ephemeral(n: int) -> X25519PrivateKey:
    return X25519PrivateKey.from_private_bytes(bytes((0x60 + n * 7 + i) % 256 for i in range(32)))


def nonce(n: int) -> bytes:
    return bytes((0xA0 + n * 13 + i) % 256 for i in range(12))


def sealed_entry(name: str, keys: RoomKeys, n: int) -> dict[str, Any]:
    e = ephemeral(n)
    invite = seal(keys, public_bytes(AGENT), ephemeral=e, nonce=nonce(n))
    shared = e.exchange(AGENT.public_key())
    key, aad = key_and_aad(shared, keys.room_id, public_bytes(AGENT), invite.ephemeral)
    body = {"room": keys.room_id, **({"k": b64url_encode(keys.write_secret)} if keys.write_secret else
                                     {"r": b64url_encode(keys.read_capability)})}
    return {
        "secret": name,
        "ephemeral_private": e.private_bytes_raw().hex(),
        "ephemeral_public": invite.ephemeral.hex(),
        "nonce": invite.nonce.hex(),
        "shared": shared.hex(),
        "key": key.hex(),
        "aad": aad.hex(),
        "plaintext": json.dumps(body, separators=(",", ":")),
        "invite": invite.to_json(),
    }


def crafted(room: str, plaintext: bytes, n: int) -> dict[str, str]:
    """Correctly sealed to the agent, but carrying a plaintext the agent must refuse."""
    return seal_plaintext(room, plaintext, public_bytes(AGENT), ephemeral=ephemeral(n), nonce=nonce(n)).to_json()


def flip(b64: str, index: int) -> str:
    raw = bytearray(b64url_decode(b64))
    raw[index] ^= 0x01
    return b64url_encode(bytes(raw))


def tampered_cases(keys: RoomKeys) -> list[dict[str, Any]]:
    good = seal(keys, public_bytes(AGENT), ephemeral=ephemeral(0), nonce=nonce(0)).to_json()
    other = RoomKeys.from_write_secret(OTHER_SECRET)
    room = keys.room_id

    def body(**fields: str) -> bytes:
        return json.dumps(fields, separators=(",", ":")).encode()

    cases: list[tuple[str, str, dict[str, str], bytes | None]] = [
        ("a ciphertext bit flipped", "tag", {**good, "ciphertext": flip(good["ciphertext"], 0)}, None),
        ("a tag bit flipped", "tag", {**good, "ciphertext": flip(good["ciphertext"], -1)}, None),
        ("another nonce", "tag", {**good, "nonce": flip(good["nonce"], 5)}, None),
        ("re-addressed to another room (the hub moving it)", "tag", {**good, "room": other.room_id}, None),
        ("another ephemeral key", "tag", {**good, "ephemeral": b64url_encode(public_bytes(ephemeral(9)))}, None),
        ("sealed to another agent", "tag", good, OTHER_AGENT.private_bytes_raw()),
        ("an all-zero (low-order) ephemeral key", "ephemeral", {**good, "ephemeral": b64url_encode(bytes(32))}, None),
        ("ephemeral key of 31 bytes", "malformed", {**good, "ephemeral": b64url_encode(public_bytes(ephemeral(0))[:31])}, None),
        ("nonce of 11 bytes", "malformed", {**good, "nonce": b64url_encode(nonce(0)[:11])}, None),
        ("ciphertext shorter than a tag", "malformed", {**good, "ciphertext": b64url_encode(bytes(16))}, None),
        ("room id that is not 16 bytes", "malformed", {**good, "room": "plain-room"}, None),
        ("ciphertext not base64url", "malformed", {**good, "ciphertext": good["ciphertext"][:-2] + "+/"}, None),
        ("no ciphertext", "malformed", {k: v for k, v in good.items() if k != "ciphertext"}, None),
        ("plaintext that is not JSON", "plaintext", crafted(room, b"not json", 11), None),
        ("sealed room id differs from the addressed one", "room",
         crafted(room, body(room=other.room_id, k=b64url_encode(OTHER_SECRET)), 12), None),
        ("a secret of another room", "secret", crafted(room, body(room=room, k=b64url_encode(OTHER_SECRET)), 13), None),
        ("a write secret of 31 bytes", "secret", crafted(room, body(room=room, k=b64url_encode(WRITE_SECRET[:31])), 14), None),
        ("no secret at all", "secret", crafted(room, body(room=room), 15), None),
    ]
    out = []
    for why, reason, invite, agent_private in cases:
        case: dict[str, Any] = {"why": why, "error": "SealError", "reason": reason, "invite": invite}
        if agent_private is not None:
            case["agent_private"] = agent_private.hex()
        out.append(case)
    return out


def build() -> dict[str, Any]:
    keys = RoomKeys.from_write_secret(WRITE_SECRET)
    agent_public = public_bytes(AGENT)
    # The invite must survive the hub's JSON round trip: what the vectors hold is what opens.
    SealedInvite.from_json(seal(keys, agent_public).to_json())
    return {
        "format": "collab-seal-vectors",
        "version": 1,
        "label": LABEL.decode(),
        "agent": {
            "private": AGENT.private_bytes_raw().hex(),
            "public": agent_public.hex(),
            "public_b64url": b64url_encode(agent_public),
            "fingerprint": fingerprint(agent_public),
        },
        "room": {
            "write_secret": WRITE_SECRET.hex(),
            "room_id": keys.room_id,
            "read_capability": keys.read_capability.hex(),
        },
        "seals": [sealed_entry("write", keys, 0), sealed_entry("read", keys.read_only(), 1)],
        "tampered": tampered_cases(keys),
    }


def render() -> str:
    return json.dumps(build(), indent=2) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not OUTPUT.exists() or OUTPUT.read_text() != text:
            print(f"{OUTPUT} is stale: run {Path(__file__).name} to regenerate", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
