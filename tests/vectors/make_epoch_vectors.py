"""Regenerate tests/vectors/epochs.json, the shared test vectors for key epochs, rotation and the log hash.

    .venv/bin/python tests/vectors/make_epoch_vectors.py           # rewrite epochs.json
    .venv/bin/python tests/vectors/make_epoch_vectors.py --check   # exit 1 if epochs.json is stale

The constructions are collab/crypto/keys.py (RoomKeys.for_epoch), collab/crypto/epochs.py (boxes),
collab/protocol/rotation.py (the rotation envelope) and collab/protocol/log_hash.py; the browser's
are web/src/crypto/epochs.ts and web/src/crypto/loghash.ts (web/test/epochs.test.ts). Every input is
fixed (the room's write secret 00 01 … 1f as in e2ee.json, the epoch secrets, device keys, ephemeral
keys, nonces, author id) and Ed25519, X25519, HKDF and AES-GCM are deterministic once they are, so
the output is byte-for-byte reproducible.

Format (byte strings are lowercase hex)
------
- ``room``: write_secret (epoch 0), room_id (hex of the 16 bytes).
- ``epochs``: for epoch 1 and 2, the write secret and what derives from it: write_public_key,
  read_secret, doc_key, awareness_key, reader_public_key; the links' fragments (``k`` and ``r``).
- ``devices``: X25519 private/public keys: "kept" (a writer) and "reader" (kept as a reader), and
  "removed" (no box).
- ``boxes``: the box sealed to each kept device for epoch 1 (ephemeral_private, nonce, plaintext, box).
- ``rotation``: the envelope moving epoch 0 to 1 (ref, author_id, nonce, log_hash, removed) and
  what opening it gives (new write key, chain of earlier read secrets/write keys, starts).
- ``rotation_tampered``: envelopes a kept device must refuse (reason: "RotationError") or that
  say it was removed ("Removed").
- ``log``: envelopes (hex) folded in order into the running log hash: ``hashes[n]`` after n.
- ``bound``: the same write secret as a room made now, whose id binds the write key
  (HKDF(R, salt = W, "collab v1 room-id bound", 16)): room_id_b64url, its write and read links'
  fragments, and ``forged_read_fragment``: its read secret with another write key, which must not
  parse for that room id.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from collab.crypto.encoding import b64url_encode
from collab.crypto.epochs import box_plaintext, seal_box, x25519_public
from collab.crypto.keys import RoomKeys
from collab.crypto.links import read_link, write_link
from collab.protocol.log_hash import ZERO, code, fold
from collab.protocol.rotation import seal_rotation

OUT = Path(__file__).with_name("epochs.json")


def fixed(start: int, n: int = 32) -> bytes:
    return bytes((start + i) % 256 for i in range(n))


def x25519(seed: int) -> X25519PrivateKey:
    return X25519PrivateKey.from_private_bytes(fixed(seed))


def raw_private(key: X25519PrivateKey) -> bytes:
    return key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


def epoch_case(keys: RoomKeys) -> dict[str, Any]:
    assert keys.write_secret is not None
    base = "https://hub.example"
    return {
        "epoch": keys.epoch,
        "write_secret": keys.write_secret.hex(),
        "write_public_key": keys.write_public_key.hex(),
        "read_secret": keys.read_secret.hex(),
        "doc_key": keys.doc_key.hex(),
        "awareness_key": keys.awareness_key.hex(),
        "reader_public_key": keys.reader_public_key.hex(),
        "write_fragment": write_link(base, keys).split("#", 1)[1],
        "read_fragment": read_link(base, keys).split("#", 1)[1],
    }


def build() -> dict[str, Any]:
    room0 = RoomKeys.from_write_secret(bytes(range(32)))
    room = room0.room_id_bytes
    e1 = RoomKeys.for_epoch(room, 1, write_secret=fixed(0x40))
    e2 = RoomKeys.for_epoch(room, 2, write_secret=fixed(0x80))
    kept, reader, removed = x25519(0xA0), x25519(0xB0), x25519(0xC0)
    boxes = []
    box_bytes = []
    for i, (device, writer) in enumerate(((kept, True), (reader, False))):
        eph = x25519(0xD0 + i)
        nonce = fixed(0xE0 + i, 12)
        plaintext = box_plaintext(e1, writer=writer)
        box = seal_box(room, 1, x25519_public(device), plaintext, ephemeral=eph, nonce=nonce)
        box_bytes.append(box)
        boxes.append({"device": "kept" if writer else "reader", "ephemeral_private": raw_private(eph).hex(),
                      "nonce": nonce.hex(), "plaintext": plaintext.decode(), "box": box.hex()})
    author = fixed(0x10, 16)
    log_hash = fold(fold(ZERO, 1, b"entry one"), 2, b"entry two")
    envelope = seal_rotation(room0, e1, ref=2, chain={}, starts={}, boxes=box_bytes, author_id=author,
                             removed=("cy",), log_hash=log_hash, nonce=fixed(0xF0, 12))
    # Epoch 1 -> 2 keeping only the writer: its back-link lists epochs 0 and 1.
    box2 = seal_box(room, 2, x25519_public(kept), box_plaintext(e2, writer=True), ephemeral=x25519(0xD5), nonce=fixed(0xE5, 12))
    envelope2 = seal_rotation(e1, e2, ref=5, chain={0: room0.read_only()}, starts={1: 2}, boxes=[box2],
                              author_id=fixed(0x20, 16), removed=("reader",), nonce=fixed(0xF5, 12))

    def flip(data: bytes, at: int) -> str:
        b = bytearray(data)
        b[at] ^= 0x01
        return bytes(b).hex()

    tampered = [
        {"why": "the old epoch's signature flipped", "envelope": flip(envelope, len(envelope) - 1), "reason": "RotationError"},
        {"why": "the proof of the new key flipped", "envelope": flip(envelope, len(envelope) - 65), "reason": "RotationError"},
        {"why": "a header byte (the ref) changed", "envelope": flip(envelope, 50), "reason": "RotationError"},
        {"why": "the back-link ciphertext changed", "envelope": flip(envelope, 80), "reason": "RotationError"},
        {"why": "truncated", "envelope": envelope[:-1].hex(), "reason": "RotationError"},
    ]
    entries = [b"entry one", b"entry two", b"entry three"]
    hashes = [ZERO]
    for i, e in enumerate(entries, 1):
        hashes.append(fold(hashes[-1], i, e))
    bound = RoomKeys.from_write_secret(bytes(range(32)), bound=True)
    other_key = RoomKeys.from_write_secret(fixed(0x60)).write_public_key
    forged = b64url_encode(bound.read_secret + other_key)
    return {
        "bound": {
            "room_id_b64url": bound.room_id,
            "write_fragment": write_link("https://hub.example", bound).split("#", 1)[1],
            "read_fragment": read_link("https://hub.example", bound).split("#", 1)[1],
            "forged_read_fragment": f"r={forged}",
        },
        "format": "collab-epoch-vectors",
        "version": 1,
        "labels": {"box": "collab v1 rotation-box", "proof": "collab v1 rotation-proof", "log": "collab v1 log",
                   "epoch_info": "collab v1 e<epoch> <name>, salt room id (|| write public key on the read side)"},
        "room": {"write_secret": room0.write_secret.hex() if room0.write_secret else "", "room_id": room.hex(),
                 "room_id_b64url": room0.room_id, "write_public_key": room0.write_public_key.hex(),
                 "read_secret": room0.read_secret.hex()},
        "epochs": [epoch_case(e1), epoch_case(e2)],
        "devices": {name: {"private": raw_private(k).hex(), "public": x25519_public(k).hex()}
                    for name, k in (("kept", kept), ("reader", reader), ("removed", removed))},
        "boxes": boxes,
        "rotation": {
            "envelope": envelope.hex(), "ref": 2, "epoch": 1, "author_id": author.hex(), "log_hash": log_hash.hex(),
            "removed": ["cy"], "new_write_public_key": e1.write_public_key.hex(),
            "chain": [{"epoch": 0, "read_secret": room0.read_secret.hex(), "write_public_key": room0.write_public_key.hex()}],
            "starts": {"1": 2},
        },
        "rotation2": {
            "envelope": envelope2.hex(), "ref": 5, "epoch": 2, "new_write_public_key": e2.write_public_key.hex(),
            "reader_removed": True, "starts": {"1": 2, "2": 5},
        },
        "rotation_tampered": tampered,
        "log": {"entries": [e.hex() for e in entries], "hashes": [h.hex() for h in hashes],
                "code": code(3, hashes[3])},
    }


def main() -> int:
    text = json.dumps(build(), indent=2) + "\n"
    if "--check" in sys.argv:
        if OUT.read_text() != text:
            print(f"{OUT} is stale: run {__file__}", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
