"""Regenerate tests/vectors/e2ee.json, the shared test vectors for collab's E2EE (docs/e2ee.md).

    .venv/bin/python tests/vectors/make_vectors.py           # rewrite e2ee.json
    .venv/bin/python tests/vectors/make_vectors.py --check   # exit 1 if e2ee.json is stale

Every input is fixed (write secret 00 01 … 1f, author id, nonces, challenge), and Ed25519 and
AES-GCM are deterministic once the nonce is fixed, so the output is byte-for-byte reproducible.
Any implementation (Python here, TypeScript/WebCrypto in the browser) must pass the same file.

Format
------
Conventions: every byte string is lowercase hex, except fields named ``*_b64url`` (base64url,
no padding), URLs, and ``room_id`` (the 22-character base64url room id). HKDF ``info`` labels
are ASCII strings. Integers are JSON numbers and stay below 2**53 so JavaScript reads them
exactly. Envelope fields are big-endian on the wire.

- ``hkdf``: hash, salt (hex, empty) and the ASCII ``info`` label of every derived value.
- ``write_secret``: S (32 bytes).
- ``derived``: write_auth_seed = HKDF(S, "collab v1 write-auth", 32) (the Ed25519 private seed),
  write_public_key (raw 32 bytes), read_secret = HKDF(S, "collab v1 read", 32),
  room_id_bytes = HKDF(R, "collab v1 room-id", 16), room_id, doc_key = HKDF(R, "collab v1
  doc-key", 32), awareness_key = HKDF(R, "collab v1 awareness-key", 32), read_capability =
  R || write_public_key (64 bytes), reader_auth_seed = HKDF(R, "collab v1 reader-auth", 32) (the
  reader key's Ed25519 private seed), reader_public_key (raw 32 bytes: the room's ``read_key``).
- ``links``: ``server_base``, ``write_link``, ``read_link``, ``plaintext_link`` (room
  "plain-room"), ``websocket_url`` of the encrypted room.
- ``parse_links``: links that must parse: url, expected server_base, room, kind ("write",
  "read" or "plaintext") and websocket_url.
- ``invalid_links``: url, error ("LinkError") and why (human text, not compared).
- ``auth``: context (ASCII), challenge, message (= context || room_id_bytes || challenge) and
  signature (Ed25519 by the write-auth key over message); ``invalid`` lists challenge answers
  that must NOT verify (write_public_key, room_id_bytes, challenge, signature, why);
  ``reader_signature`` is the reader's answer (Ed25519 by the reader-auth key over the same
  message), which must verify under reader_public_key and not under write_public_key.
- ``envelopes``: valid envelopes sealed with the keys above. Inputs: type (1 update,
  2 snapshot, 3 awareness), author_id, author_seq, ref, nonce, plaintext. Outputs: header
  (69 bytes, the AES-GCM associated data), ciphertext (tag included), signature (64 bytes, or
  null for awareness) and envelope (the full wire bytes). Sealing the inputs must give exactly
  ``envelope``; opening ``envelope`` with the write keys or the read-only keys must give the
  inputs back.
- ``tampered``: byte strings that opening with the keys above must reject. ``error`` is the
  expected error name, one of MalformedEnvelope, WrongRoom, WrongEpoch, TamperedEnvelope, given
  that checks run in this order: structure (magic, version, type, lengths, seq/ref ranges),
  room id, epoch, Ed25519 signature (update, snapshot), AES-GCM tag. ``parse_error`` says whether
  the keyless structural parse (what the hub runs) already rejects it.
"""

from __future__ import annotations

import json
import struct
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from collab.crypto import (
    AUTH_CONTEXT,
    LinkError,
    RoomKeys,
    auth_message,
    b64url_encode,
    parse_link,
    plaintext_link,
    read_link,
    sign_challenge,
    websocket_url,
    write_link,
)
from collab.crypto.auth import sign_reader_challenge
from collab.crypto.keys import (
    INFO_AWARENESS_KEY,
    INFO_DOC_KEY,
    INFO_READ,
    INFO_READER_AUTH,
    INFO_ROOM_ID,
    INFO_WRITE_AUTH,
    hkdf_sha256,
)
from collab.protocol.envelope import (
    EnvelopeError,
    open_envelope,
    parse_envelope,
    seal_awareness,
    seal_snapshot,
    seal_update,
)

OUTPUT = Path(__file__).with_name("e2ee.json")
SERVER_BASE = "http://localhost:8000"

WRITE_SECRET = bytes(range(0x00, 0x20))
OTHER_WRITE_SECRET = bytes(range(0x20, 0x40))  # a second room, for cross-room cases
AUTHOR_ID = bytes(range(0xA0, 0xB0))
CHALLENGE = bytes(range(0xC0, 0xE0))
MALFORMED, WRONG_ROOM, WRONG_EPOCH, TAMPERED = (
    "MalformedEnvelope", "WrongRoom", "WrongEpoch", "TamperedEnvelope"
)
B64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def nonce(n: int) -> bytes:
    """Distinct fixed nonces; real envelopes always use random ones."""
    return bytes([0xF0 + n]) * 12


def flip(data: bytes, index: int, mask: int = 0x01) -> bytes:
    out = bytearray(data)
    out[index] ^= mask
    return bytes(out)


def raw_envelope(
    keys: RoomKeys,
    etype: int,
    *,
    plaintext: bytes,
    author_seq: int = 1,
    ref: int = 0,
    epoch: int = 0,
    version: int = 1,
    magic: bytes = b"CLB",
    nonce_bytes: bytes,
    sign: bool = True,
) -> bytes:
    """Seal without the library's argument checks, to build well-signed but invalid envelopes."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    header = struct.pack(
        ">3sBB16sI16sQQ12s", magic, version, etype, keys.room_id_bytes, epoch, AUTHOR_ID,
        author_seq, ref, nonce_bytes,
    )
    key = keys.awareness_key if etype == 3 else keys.doc_key
    ct = AESGCM(key).encrypt(nonce_bytes, plaintext, header)
    body = header + struct.pack(">I", len(ct)) + ct
    if sign:
        assert keys.signing_key is not None
        body += keys.signing_key.sign(body)
    return body


def envelope_entry(name: str, data: bytes, plaintext: bytes, note: str) -> dict[str, Any]:
    env = parse_envelope(data)
    return {
        "name": name,
        "note": note,
        "type": int(env.type),
        "type_name": env.type.name.lower(),
        "author_id": env.author_id.hex(),
        "author_seq": env.author_seq,
        "ref": env.ref,
        "epoch": env.epoch,
        "nonce": env.nonce.hex(),
        "plaintext": plaintext.hex(),
        "header": env.header.hex(),
        "ciphertext": env.ciphertext.hex(),
        "signature": env.signature.hex() if env.signature is not None else None,
        "envelope": data.hex(),
    }


def tampered_entry(keys: RoomKeys, name: str, error: str, data: bytes, why: str) -> dict[str, Any]:
    # The expected error is written down by hand above; refuse to emit a vector the reference
    # implementation disagrees with.
    try:
        open_envelope(keys, data)
    except EnvelopeError as exc:
        if type(exc).__name__ != error:
            got = type(exc).__name__
            raise AssertionError(f"{name}: expected {error}, got {got}: {exc}") from exc
    else:
        raise AssertionError(f"tampered vector {name} opened successfully")
    try:
        parse_envelope(data)
        parse_error = False
    except EnvelopeError:
        parse_error = True
    return {
        "name": name, "why": why, "envelope": data.hex(), "error": error,
        "parse_error": parse_error,
    }


def invalid_link_entry(why: str, url: str) -> dict[str, Any]:
    try:
        parse_link(url)
    except LinkError:
        return {"url": url, "error": "LinkError", "why": why}
    raise AssertionError(f"invalid link case {why!r} parsed successfully")


def build() -> dict[str, Any]:
    keys = RoomKeys.from_write_secret(WRITE_SECRET)
    other = RoomKeys.from_write_secret(OTHER_WRITE_SECRET)
    assert keys.signing_key is not None and keys.write_secret is not None

    derived = {
        "write_auth_seed": hkdf_sha256(WRITE_SECRET, INFO_WRITE_AUTH, 32).hex(),
        "write_public_key": keys.write_public_key.hex(),
        "read_secret": keys.read_secret.hex(),
        "room_id_bytes": keys.room_id_bytes.hex(),
        "room_id": keys.room_id,
        "doc_key": keys.doc_key.hex(),
        "awareness_key": keys.awareness_key.hex(),
        "read_capability": keys.read_capability.hex(),
        "write_secret_b64url": b64url_encode(keys.write_secret),
        "read_capability_b64url": b64url_encode(keys.read_capability),
        "reader_auth_seed": hkdf_sha256(keys.read_secret, INFO_READER_AUTH, 32).hex(),
        "reader_public_key": keys.reader_public_key.hex(),
    }

    room = keys.room_id
    sub_base = "https://example.com/tools/collab"
    links = {
        "server_base": SERVER_BASE,
        "write_link": write_link(SERVER_BASE, keys),
        "read_link": read_link(SERVER_BASE, keys),
        "plaintext_link": plaintext_link(SERVER_BASE, "plain-room"),
        "websocket_url": websocket_url(SERVER_BASE, room),
    }
    parse_links = [
        {"url": links["write_link"], "server_base": SERVER_BASE, "room": room, "kind": "write",
         "websocket_url": websocket_url(SERVER_BASE, room)},
        {"url": links["read_link"], "server_base": SERVER_BASE, "room": room, "kind": "read",
         "websocket_url": websocket_url(SERVER_BASE, room)},
        {"url": links["plaintext_link"], "server_base": SERVER_BASE, "room": "plain-room",
         "kind": "plaintext", "websocket_url": websocket_url(SERVER_BASE, "plain-room")},
        {"url": read_link(sub_base, keys), "server_base": sub_base, "room": room, "kind": "read",
         "websocket_url": websocket_url(sub_base, room)},
    ]

    k = b64url_encode(WRITE_SECRET)
    r = b64url_encode(keys.read_capability)
    base_room = f"{SERVER_BASE}/s/{room}"
    k_noncanonical = k[:-1] + B64URL_ALPHABET[B64URL_ALPHABET.index(k[-1]) | 1]
    # The last character of k carries 2 spare bits; setting one gives the same bytes under a
    # different text, which strict decoding refuses.
    invalid_links = [
        ("unknown scheme", f"ftp://localhost:8000/s/{room}#k={k}"),
        ("no scheme", f"localhost:8000/s/{room}#k={k}"),
        ("no /s/<room> in the path", f"{SERVER_BASE}/room/{room}#k={k}"),
        ("invalid character in base64url", f"{base_room}#k={k[:-1]}!"),
        ("base64 padding is not allowed", f"{base_room}#k={k}="),
        ("standard base64 alphabet is not allowed", f"{base_room}#k={k[:-2]}+/"),
        ("non-canonical base64url", f"{base_room}#k={k_noncanonical}"),
        ("write secret of 31 bytes", f"{base_room}#k={b64url_encode(WRITE_SECRET[:31])}"),
        ("write secret of 33 bytes", f"{base_room}#k={b64url_encode(WRITE_SECRET + b'x')}"),
        ("read capability of 32 bytes", f"{base_room}#r={b64url_encode(keys.read_secret)}"),
        ("room id in path does not match the key", f"{SERVER_BASE}/s/{other.room_id}#k={k}"),
        ("room id in path does not match the read capability",
         f"{SERVER_BASE}/s/{other.room_id}#r={r}"),
        ("unknown fragment key", f"{base_room}#x={k}"),
        ("fragment without a value separator", f"{base_room}#k"),
        ("invalid plaintext room name", f"{SERVER_BASE}/s/bad$room"),
        ("room name too long", f"{SERVER_BASE}/s/{'a' * 129}"),
        ("room name '..' is reserved", f"{SERVER_BASE}/s/.."),
    ]

    auth = {
        "context": AUTH_CONTEXT.decode("ascii"),
        "challenge": CHALLENGE.hex(),
        "message": auth_message(keys.room_id_bytes, CHALLENGE).hex(),
        "signature": sign_challenge(keys, CHALLENGE).hex(),
        "reader_signature": sign_reader_challenge(keys.read_only(), CHALLENGE).hex(),
        "invalid": [
            {
                "why": "signature made for another room",
                "write_public_key": keys.write_public_key.hex(),
                "room_id_bytes": keys.room_id_bytes.hex(),
                "challenge": CHALLENGE.hex(),
                "signature": keys.signing_key.sign(
                    auth_message(other.room_id_bytes, CHALLENGE)
                ).hex(),
            },
            {
                "why": "signature over a different challenge",
                "write_public_key": keys.write_public_key.hex(),
                "room_id_bytes": keys.room_id_bytes.hex(),
                "challenge": CHALLENGE.hex(),
                "signature": sign_challenge(keys, bytes(32)).hex(),
            },
            {
                "why": "signed by another room's write key",
                "write_public_key": keys.write_public_key.hex(),
                "room_id_bytes": keys.room_id_bytes.hex(),
                "challenge": CHALLENGE.hex(),
                "signature": sign_challenge(replace(other, room_id_bytes=keys.room_id_bytes),
                                            CHALLENGE).hex(),
            },
        ],
    }

    update_pt = b"collab update: hello, world"
    snapshot_pt = b'{"snapshot":"state","heads":{"a0a1a2a3a4a5a6a7a8a9aaabacadaeaf":2}}'
    awareness_pt = b'{"user":{"name":"Ada","color":"#30bced"},"file":"main.py"}'
    update = seal_update(keys, AUTHOR_ID, 1, update_pt, nonce=nonce(0))
    update_empty = seal_update(keys, AUTHOR_ID, 2, b"", nonce=nonce(1))
    snapshot = seal_snapshot(keys, AUTHOR_ID, 1, 42, snapshot_pt, nonce=nonce(2))
    awareness = seal_awareness(keys, AUTHOR_ID, 7, awareness_pt, nonce=nonce(3))
    envelopes = [
        envelope_entry("update", update, update_pt, "author seq 1"),
        envelope_entry("update_empty", update_empty, b"", "empty plaintext: ciphertext = tag"),
        envelope_entry("snapshot", snapshot, snapshot_pt, "covers hub sequence 42"),
        envelope_entry("awareness", awareness, awareness_pt, "counter 7, not signed"),
    ]

    # Offsets into the header, for the flips below.
    room_at, author_seq_at, ref_at, nonce_at = 5, 41, 49, 57
    ct_at = 73
    sig_at = len(update) - 64
    # A member with only the read-only link can encrypt under the doc key but cannot sign.
    reader_forgery = seal_update(replace(keys, signing_key=other.signing_key), AUTHOR_ID, 3,
                                 b"forged by a reader", nonce=nonce(4))
    foreign_in_our_room = seal_update(
        replace(other, room_id_bytes=keys.room_id_bytes), AUTHOR_ID, 1, update_pt, nonce=nonce(5)
    )
    wrong_room = seal_update(other, AUTHOR_ID, 1, update_pt, nonce=nonce(6))
    awareness_doc_key = seal_awareness(replace(keys, awareness_key=keys.doc_key), AUTHOR_ID, 8,
                                       awareness_pt, nonce=nonce(7))
    short_ct = bytes.fromhex(envelopes[0]["header"]) + struct.pack(">I", 15) + bytes(15) + bytes(64)
    def raw_update(**fields: Any) -> bytes:
        return raw_envelope(keys, fields.pop("etype", 1), plaintext=update_pt, **fields)

    cases = [
        # (name, expected error, bytes, why)
        ("update_ciphertext_bit_flipped", TAMPERED, flip(update, ct_at + 3),
         "one ciphertext bit flipped"),
        ("update_author_seq_changed", TAMPERED, flip(update, author_seq_at + 7, 0x02),
         "author seq 1 rewritten to 3 in the header"),
        ("update_nonce_byte_flipped", TAMPERED, flip(update, nonce_at),
         "one nonce bit flipped"),
        ("update_room_id_byte_flipped", WRONG_ROOM, flip(update, room_at),
         "room id in the header altered"),
        ("update_signature_bit_flipped", TAMPERED, flip(update, sig_at + 10),
         "one signature bit flipped"),
        ("update_forged_by_reader", TAMPERED, reader_forgery,
         "valid AES-GCM under the doc key, signed by a key that is not the room's write key"),
        ("update_foreign_keys_our_room_id", TAMPERED, foreign_in_our_room,
         "names this room but was encrypted and signed with another room's keys"),
        ("update_wrong_room", WRONG_ROOM, wrong_room,
         "a valid update of another room (write secret 20..3f)"),
        ("update_wrong_epoch", WRONG_EPOCH, raw_update(epoch=1, nonce_bytes=nonce(8)),
         "correctly signed and encrypted, but epoch 1"),
        ("update_truncated", MALFORMED, update[:-1], "last byte cut off"),
        ("update_signature_missing", MALFORMED, update[:-64], "the 64-byte signature stripped"),
        ("update_trailing_byte", MALFORMED, update + b"\x00", "one byte appended"),
        ("update_bad_magic", MALFORMED, flip(update, 0), "magic is not 'CLB'"),
        ("update_bad_version", MALFORMED, raw_update(version=2, nonce_bytes=nonce(9)),
         "version 2"),
        ("unknown_type", MALFORMED, raw_update(etype=4, nonce_bytes=nonce(10)), "type 4"),
        ("update_seq_zero", MALFORMED, raw_update(author_seq=0, nonce_bytes=nonce(11)),
         "author seq 0 (sequences start at 1)"),
        ("update_with_ref", MALFORMED, raw_update(ref=5, nonce_bytes=nonce(12)),
         "ref must be 0 outside snapshots"),
        ("ciphertext_shorter_than_tag", MALFORMED, short_ct,
         "declared ciphertext length 15 < 16-byte tag"),
        ("header_only", MALFORMED, update[:69], "cut off right after the header"),
        ("empty", MALFORMED, b"", "zero bytes"),
        ("snapshot_ref_changed", TAMPERED, flip(snapshot, ref_at + 7, 0x80),
         "hub rewrote which sequence number the snapshot covers (42 -> 170)"),
        ("snapshot_ciphertext_bit_flipped", TAMPERED, flip(snapshot, ct_at),
         "one ciphertext bit flipped"),
        ("awareness_ciphertext_bit_flipped", TAMPERED, flip(awareness, ct_at + 1),
         "one ciphertext bit flipped"),
        ("awareness_counter_changed", TAMPERED, flip(awareness, author_seq_at + 7, 0x10),
         "counter rewritten in the header (7 -> 23)"),
        ("awareness_under_doc_key", TAMPERED, awareness_doc_key,
         "encrypted with the doc key instead of the awareness key"),
        ("awareness_with_signature", MALFORMED, awareness + bytes(64),
         "awareness envelopes carry no signature"),
        ("awareness_truncated", MALFORMED, awareness[:-1], "last byte cut off"),
    ]
    tampered = [tampered_entry(keys, *case) for case in cases]

    return {
        "format": "collab-e2ee-vectors",
        "version": 1,
        "generated_by": "tests/vectors/make_vectors.py (format documented there)",
        "hkdf": {
            "hash": "SHA-256",
            "salt": "",
            "info": {
                "write_auth_seed": INFO_WRITE_AUTH.decode("ascii"),
                "read_secret": INFO_READ.decode("ascii"),
                "room_id_bytes": INFO_ROOM_ID.decode("ascii"),
                "doc_key": INFO_DOC_KEY.decode("ascii"),
                "awareness_key": INFO_AWARENESS_KEY.decode("ascii"),
                "reader_auth_seed": INFO_READER_AUTH.decode("ascii"),
            },
        },
        "write_secret": WRITE_SECRET.hex(),
        "derived": derived,
        "links": links,
        "parse_links": parse_links,
        "invalid_links": [invalid_link_entry(why, url) for why, url in invalid_links],
        "auth": auth,
        "envelopes": envelopes,
        "tampered": tampered,
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
