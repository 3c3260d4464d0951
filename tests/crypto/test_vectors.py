"""tests/vectors/e2ee.json: the file reproduces exactly, and every case holds independently.

The second half re-derives each value from the JSON inputs alone, the way another
implementation (the browser's TypeScript) will have to.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from collab.crypto import (
    LinkError,
    RoomKeys,
    auth_message,
    b64url_encode,
    parse_link,
    plaintext_link,
    read_link,
    sign_challenge,
    verify_challenge,
    websocket_url,
    write_link,
)
from collab.crypto.auth import sign_reader_challenge
from collab.crypto.keys import hkdf_sha256
from collab.protocol import envelope as envelope_module
from collab.protocol.envelope import (
    EnvelopeError,
    EnvelopeType,
    open_envelope,
    parse_envelope,
    seal_awareness,
    seal_snapshot,
    seal_update,
    verify_signature,
)

VECTORS_DIR = Path(__file__).resolve().parents[1] / "vectors"
VECTORS: dict[str, Any] = json.loads((VECTORS_DIR / "e2ee.json").read_text())
H = bytes.fromhex


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_vectors", VECTORS_DIR / "make_vectors.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def keys() -> RoomKeys:
    return RoomKeys.from_write_secret(H(VECTORS["write_secret"]))


def test_json_is_reproduced_byte_for_byte() -> None:
    assert load_generator().render() == (VECTORS_DIR / "e2ee.json").read_text()


def test_write_secret_is_the_fixed_one() -> None:
    assert H(VECTORS["write_secret"]) == bytes(range(32))


def test_derived_values(keys: RoomKeys) -> None:
    d, info = VECTORS["derived"], VECTORS["hkdf"]["info"]
    s = H(VECTORS["write_secret"])
    assert VECTORS["hkdf"]["salt"] == ""
    assert hkdf_sha256(s, info["write_auth_seed"].encode(), 32) == H(d["write_auth_seed"])
    assert hkdf_sha256(s, info["read_secret"].encode(), 32) == H(d["read_secret"])
    r = H(d["read_secret"])
    assert hkdf_sha256(r, info["room_id_bytes"].encode(), 16) == H(d["room_id_bytes"])
    assert hkdf_sha256(r, info["doc_key"].encode(), 32) == H(d["doc_key"])
    assert hkdf_sha256(r, info["awareness_key"].encode(), 32) == H(d["awareness_key"])
    assert keys.write_public_key == H(d["write_public_key"])
    assert keys.room_id == d["room_id"] == b64url_encode(H(d["room_id_bytes"]))
    assert keys.read_capability == H(d["read_capability"]) == r + H(d["write_public_key"])
    assert d["write_secret_b64url"] == b64url_encode(s)
    assert d["read_capability_b64url"] == b64url_encode(H(d["read_capability"]))
    assert hkdf_sha256(r, info["reader_auth_seed"].encode(), 32) == H(d["reader_auth_seed"])
    assert keys.reader_public_key == keys.read_only().reader_public_key == H(d["reader_public_key"])


def test_read_capability_derives_the_same_values(keys: RoomKeys) -> None:
    cap = H(VECTORS["derived"]["read_capability"])
    reader = RoomKeys.from_read_capability(cap[:32], cap[32:])
    assert reader == keys.read_only()


def test_links(keys: RoomKeys) -> None:
    links = VECTORS["links"]
    base = links["server_base"]
    assert write_link(base, keys) == links["write_link"]
    assert read_link(base, keys) == links["read_link"]
    assert plaintext_link(base, "plain-room") == links["plaintext_link"]
    assert websocket_url(base, keys.room_id) == links["websocket_url"]


@pytest.mark.parametrize("case", VECTORS["parse_links"], ids=lambda c: str(c["url"][:40]))
def test_parse_links(case: dict[str, Any], keys: RoomKeys) -> None:
    parsed = parse_link(case["url"])
    assert parsed.server_base == case["server_base"]
    assert parsed.room == case["room"]
    assert websocket_url(parsed.server_base, parsed.room) == case["websocket_url"]
    expected_keys = {"write": keys, "read": keys.read_only(), "plaintext": None}[case["kind"]]
    assert parsed.keys == expected_keys


@pytest.mark.parametrize("case", VECTORS["invalid_links"], ids=lambda c: c["why"])
def test_invalid_links(case: dict[str, Any]) -> None:
    assert case["error"] == "LinkError"
    with pytest.raises(LinkError):
        parse_link(case["url"])


def test_auth(keys: RoomKeys) -> None:
    auth = VECTORS["auth"]
    challenge = H(auth["challenge"])
    message = auth["context"].encode() + keys.room_id_bytes + challenge
    assert auth_message(keys.room_id_bytes, challenge) == message == H(auth["message"])
    assert sign_challenge(keys, challenge) == H(auth["signature"])
    signature = H(auth["signature"])
    assert verify_challenge(keys.write_public_key, keys.room_id_bytes, challenge, signature)
    # A reader answers the same message with the reader key, which any link derives; it is no writer's.
    reader_signature = H(auth["reader_signature"])
    assert sign_reader_challenge(keys.read_only(), challenge) == reader_signature
    assert verify_challenge(H(VECTORS["derived"]["reader_public_key"]), keys.room_id_bytes, challenge, reader_signature)
    assert not verify_challenge(keys.write_public_key, keys.room_id_bytes, challenge, reader_signature)


@pytest.mark.parametrize("case", VECTORS["auth"]["invalid"], ids=lambda c: c["why"])
def test_auth_invalid(case: dict[str, Any]) -> None:
    assert not verify_challenge(
        H(case["write_public_key"]), H(case["room_id_bytes"]), H(case["challenge"]),
        H(case["signature"]),
    )


@pytest.mark.parametrize("case", VECTORS["envelopes"], ids=lambda c: c["name"])
def test_envelopes_seal_exactly(case: dict[str, Any], keys: RoomKeys) -> None:
    etype = EnvelopeType(case["type"])
    author, seq, nonce, plaintext = (
        H(case["author_id"]), case["author_seq"], H(case["nonce"]), H(case["plaintext"]),
    )
    if etype is EnvelopeType.UPDATE:
        assert case["ref"] == 0
        sealed = seal_update(keys, author, seq, plaintext, nonce=nonce)
    elif etype is EnvelopeType.SNAPSHOT:
        sealed = seal_snapshot(keys, author, seq, case["ref"], plaintext, nonce=nonce)
    else:
        assert case["ref"] == 0
        sealed = seal_awareness(keys, author, seq, plaintext, nonce=nonce)
    signature = H(case["signature"]) if case["signature"] is not None else b""
    expected = (
        H(case["header"]) + len(H(case["ciphertext"])).to_bytes(4, "big") + H(case["ciphertext"])
        + signature
    )
    assert sealed == expected == H(case["envelope"])


@pytest.mark.parametrize("case", VECTORS["envelopes"], ids=lambda c: c["name"])
def test_envelopes_open(case: dict[str, Any], keys: RoomKeys) -> None:
    data = H(case["envelope"])
    env = parse_envelope(data)
    assert (int(env.type), env.type.name.lower()) == (case["type"], case["type_name"])
    assert env.author_id.hex() == case["author_id"]
    assert (env.author_seq, env.ref, env.epoch) == (case["author_seq"], case["ref"], case["epoch"])
    assert env.nonce.hex() == case["nonce"]
    assert env.header.hex() == case["header"]
    assert (case["signature"] is not None) == verify_signature(keys.write_public_key, env)
    for opener in (keys, keys.read_only()):
        assert open_envelope(opener, data).plaintext == H(case["plaintext"])


@pytest.mark.parametrize("case", VECTORS["tampered"], ids=lambda c: c["name"])
def test_tampered_envelopes_fail_with_their_error(case: dict[str, Any], keys: RoomKeys) -> None:
    error = getattr(envelope_module, case["error"])
    assert issubclass(error, EnvelopeError)
    data = H(case["envelope"])
    with pytest.raises(error) as info:
        open_envelope(keys, data)
    assert type(info.value) is error
    with pytest.raises(error):
        open_envelope(keys.read_only(), data)
    if case["parse_error"]:
        with pytest.raises(error):
            parse_envelope(data)
    else:
        parse_envelope(data)


def test_every_kind_of_failure_is_covered() -> None:
    errors = {case["error"] for case in VECTORS["tampered"]}
    assert errors == {"MalformedEnvelope", "WrongRoom", "WrongEpoch", "TamperedEnvelope"}
