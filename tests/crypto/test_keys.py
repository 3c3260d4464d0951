"""Room keys, share links and write authentication, with real crypto."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable

import pytest

from collab.crypto import (
    CryptoError,
    LinkError,
    ReadOnlyKeys,
    RoomKeys,
    b64url_decode,
    b64url_encode,
    generate_write_secret,
    new_challenge,
    parse_link,
    plaintext_link,
    read_link,
    sign_challenge,
    validate_room_name,
    verify_challenge,
    websocket_url,
    write_link,
)

SECRET = bytes(range(32))
BASE = "http://localhost:8000"


def rfc5869_hkdf(ikm: bytes, info: bytes, length: int) -> bytes:
    """An independent HKDF-SHA256 (empty salt) straight from RFC 5869, to check the library use."""
    prk = hmac.new(b"", ikm, hashlib.sha256).digest()
    okm, block = b"", b""
    for counter in range(1, -(-length // 32) + 1):
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        okm += block
    return okm[:length]


@pytest.fixture
def keys() -> RoomKeys:
    return RoomKeys.from_write_secret(SECRET)


# --- derivation -----------------------------------------------------------------------------


def test_derivation_matches_rfc5869(keys: RoomKeys) -> None:
    read = rfc5869_hkdf(SECRET, b"collab v1 read", 32)
    assert keys.read_secret == read
    assert keys.room_id_bytes == rfc5869_hkdf(read, b"collab v1 room-id", 16)
    assert keys.doc_key == rfc5869_hkdf(read, b"collab v1 doc-key", 32)
    assert keys.awareness_key == rfc5869_hkdf(read, b"collab v1 awareness-key", 32)
    assert keys.room_id == b64url_encode(keys.room_id_bytes)
    assert len(keys.room_id) == 22 and "=" not in keys.room_id


def test_signing_key_comes_from_write_auth_label(keys: RoomKeys) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    seed = rfc5869_hkdf(SECRET, b"collab v1 write-auth", 32)
    expected = Ed25519PrivateKey.from_private_bytes(seed).public_key()
    assert keys.write_public_key == expected.public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert keys.can_write


def test_all_derived_values_differ(keys: RoomKeys) -> None:
    values = [keys.read_secret, keys.doc_key, keys.awareness_key, keys.write_public_key]
    assert len(set(values)) == len(values)


def test_read_capability_gives_same_room_without_write(keys: RoomKeys) -> None:
    reader = RoomKeys.from_read_capability(keys.read_secret, keys.write_public_key)
    assert reader == keys.read_only()
    assert not reader.can_write
    assert reader.write_secret is None and reader.signing_key is None
    for name in ("room_id", "room_id_bytes", "doc_key", "awareness_key", "write_public_key"):
        assert getattr(reader, name) == getattr(keys, name)
    assert reader.read_capability == keys.read_capability
    assert len(reader.read_capability) == 64


def test_keys_compare_by_value() -> None:
    assert RoomKeys.from_write_secret(SECRET) == RoomKeys.from_write_secret(SECRET)
    assert RoomKeys.from_write_secret(SECRET) != RoomKeys.from_write_secret(bytes(32))


def test_fresh_secrets_are_random_and_distinct() -> None:
    a, b = generate_write_secret(), generate_write_secret()
    assert len(a) == 32 and a != b
    assert RoomKeys.from_write_secret(a).room_id != RoomKeys.from_write_secret(b).room_id


def test_repr_hides_key_material(keys: RoomKeys) -> None:
    text = repr(keys) + str(keys)
    assert keys.room_id in text
    for secret in (SECRET, keys.read_secret, keys.doc_key, keys.awareness_key):
        assert secret.hex() not in text and b64url_encode(secret) not in text
        assert repr(secret) not in text


@pytest.mark.parametrize("size", [0, 16, 31, 33, 64])
def test_wrong_secret_sizes_are_refused(size: int) -> None:
    with pytest.raises(CryptoError, match="32 bytes"):
        RoomKeys.from_write_secret(bytes(size))
    with pytest.raises(CryptoError, match="32 bytes"):
        RoomKeys.from_read_capability(bytes(size), bytes(32))
    with pytest.raises(CryptoError, match="32 bytes"):
        RoomKeys.from_read_capability(bytes(32), bytes(size))


def test_secret_must_be_bytes() -> None:
    with pytest.raises(TypeError):
        RoomKeys.from_write_secret("00" * 32)  # type: ignore[arg-type]


# --- base64url ------------------------------------------------------------------------------


@pytest.mark.parametrize("size", range(0, 70))
def test_b64url_round_trip(size: int) -> None:
    data = bytes(range(256))[:size]
    text = b64url_encode(data)
    assert "=" not in text and "+" not in text and "/" not in text
    assert b64url_decode(text) == data


@pytest.mark.parametrize(
    "text",
    ["AAE=", "AA+/", "AA/A", "A", "AAAAA", "AA AA", "AAE\n", "AAÉ", "AB"],
)
def test_b64url_decode_is_strict(text: str) -> None:
    # "AB" is non-canonical: the canonical text of b"\x00" is "AA".
    with pytest.raises(ValueError):
        b64url_decode(text)


# --- links ----------------------------------------------------------------------------------


def test_write_link_round_trip(keys: RoomKeys) -> None:
    link = write_link(BASE + "/", keys)
    assert link == f"{BASE}/s/{keys.room_id}#k={b64url_encode(SECRET)}"
    parsed = parse_link(link)
    assert parsed.server_base == BASE
    assert parsed.room == keys.room_id
    assert parsed.encrypted and parsed.keys == keys and parsed.keys.can_write


def test_read_link_round_trip(keys: RoomKeys) -> None:
    link = read_link(BASE, keys)
    assert link == f"{BASE}/s/{keys.room_id}#r={b64url_encode(keys.read_capability)}"
    assert b64url_encode(SECRET) not in link
    parsed = parse_link(link)
    assert parsed.keys == keys.read_only()
    assert parsed.keys is not None and not parsed.keys.can_write


def test_read_only_keys_cannot_make_a_write_link(keys: RoomKeys) -> None:
    with pytest.raises(ReadOnlyKeys):
        write_link(BASE, keys.read_only())
    assert read_link(BASE, keys.read_only()) == read_link(BASE, keys)


def test_plaintext_link_round_trip() -> None:
    link = plaintext_link(BASE, "pair.session-1_A")
    assert link == f"{BASE}/s/pair.session-1_A"
    parsed = parse_link(link)
    assert (parsed.server_base, parsed.room, parsed.keys) == (BASE, "pair.session-1_A", None)
    assert not parsed.encrypted


def test_link_under_a_path_prefix_and_https(keys: RoomKeys) -> None:
    parsed = parse_link(write_link("HTTPS://Example.com/tools/s/collab/", keys))
    assert parsed.server_base == "https://Example.com/tools/s/collab"
    assert parsed.room == keys.room_id
    assert websocket_url(parsed.server_base, parsed.room) == (
        f"wss://Example.com/tools/s/collab/ws/{keys.room_id}"
    )


def test_link_tolerates_surrounding_whitespace_trailing_slash_and_query(keys: RoomKeys) -> None:
    k = b64url_encode(SECRET)
    parsed = parse_link(f"  {BASE}/s/{keys.room_id}/?utm=chat#k={k}\n")
    assert parsed.keys == keys and parsed.server_base == BASE


def test_websocket_url() -> None:
    assert websocket_url("http://localhost:8000", "room") == "ws://localhost:8000/ws/room"
    assert websocket_url("https://h.example/", "room") == "wss://h.example/ws/room"
    with pytest.raises(LinkError):
        websocket_url("http://localhost:8000", "no/slash")
    with pytest.raises(LinkError, match="scheme"):
        websocket_url("ws://localhost:8000", "room")


def _k(data: bytes = SECRET) -> str:
    return b64url_encode(data)


@pytest.mark.parametrize(
    ("make_url", "message"),
    [
        (lambda room: f"ftp://h/s/{room}#k={_k()}", "unknown link scheme 'ftp'"),
        (lambda room: f"//h/s/{room}#k={_k()}", "unknown link scheme"),
        (lambda room: f"http:///s/{room}#k={_k()}", "no host"),
        (lambda room: f"http://h/x/{room}#k={_k()}", "no /s/<room>"),
        (lambda room: f"http://h/s/{room}#k={_k()[:-1]}!", "not valid base64url"),
        (lambda room: f"http://h/s/{room}#k={_k()}=", "not valid base64url"),
        (lambda room: f"http://h/s/{room}#k={_k(SECRET[:31])}", "decodes to 31 bytes; expected 32"),
        (lambda room: f"http://h/s/{room}#r={_k()}", "decodes to 32 bytes; expected 64"),
        (lambda room: f"http://h/s/{room}#x={_k()}", "expected #k="),
        (lambda room: f"http://h/s/{room}#k", "expected #k="),
        (lambda room: f"http://h/s/AAAAAAAAAAAAAAAAAAAAAA#k={_k()}", "does not match"),
        (lambda room: f"http://h/s/{room[:-1]}#k={_k()}", "does not match"),
        (lambda room: "http://h/s/bad$room", "invalid room name"),
        (lambda room: "http://h/s/", "invalid room name"),
        (lambda room: "http://h/s/" + "a" * 129, "invalid room name"),
        (lambda room: "http://h/s/..", "reserved"),
    ],
)
def test_bad_links_say_what_is_wrong(
    keys: RoomKeys, make_url: Callable[[str], str], message: str
) -> None:
    with pytest.raises(LinkError, match=re.escape(message)) as info:
        parse_link(make_url(keys.room_id))
    # The secret must never leak into an error message (they end up in logs).
    assert _k() not in str(info.value)


def test_read_capability_mismatch_is_detected(keys: RoomKeys) -> None:
    other = RoomKeys.from_write_secret(bytes(32))
    with pytest.raises(LinkError, match="does not match"):
        parse_link(f"{BASE}/s/{other.room_id}#r={_k(keys.read_capability)}")


@pytest.mark.parametrize("room", ["a", "A.b_c-9", "...", "x" * 128, "0td5h1UTY0RsR7ZKMfHAfQ"])
def test_valid_room_names(room: str) -> None:
    assert validate_room_name(room) == room


@pytest.mark.parametrize("room", ["", ".", "..", "a b", "a/b", "é", "x" * 129, "a\n"])
def test_invalid_room_names(room: str) -> None:
    with pytest.raises(LinkError):
        validate_room_name(room)


# --- write authentication -------------------------------------------------------------------


def test_challenge_round_trip(keys: RoomKeys) -> None:
    challenge = new_challenge()
    assert len(challenge) == 32 and challenge != new_challenge()
    signature = sign_challenge(keys, challenge)
    assert verify_challenge(keys.write_public_key, keys.room_id_bytes, challenge, signature)


def test_challenge_signature_is_bound_to_room_and_challenge(keys: RoomKeys) -> None:
    challenge = new_challenge()
    signature = sign_challenge(keys, challenge)
    other = RoomKeys.from_write_secret(bytes(32))
    assert not verify_challenge(keys.write_public_key, other.room_id_bytes, challenge, signature)
    fresh = new_challenge()
    assert not verify_challenge(keys.write_public_key, keys.room_id_bytes, fresh, signature)
    assert not verify_challenge(other.write_public_key, keys.room_id_bytes, challenge, signature)
    flipped = bytes([signature[0] ^ 1]) + signature[1:]
    assert not verify_challenge(keys.write_public_key, keys.room_id_bytes, challenge, flipped)


@pytest.mark.parametrize(
    ("pub", "room", "challenge", "sig"),
    [(31, 16, 32, 64), (32, 15, 32, 64), (32, 16, 31, 64), (32, 16, 32, 63), (32, 16, 32, 0)],
)
def test_verify_challenge_never_raises_on_bad_sizes(
    pub: int, room: int, challenge: int, sig: int
) -> None:
    assert verify_challenge(bytes(pub), bytes(room), bytes(challenge), bytes(sig)) is False


def test_read_only_keys_cannot_sign(keys: RoomKeys) -> None:
    with pytest.raises(ReadOnlyKeys, match="read-only"):
        sign_challenge(keys.read_only(), new_challenge())


def test_challenge_must_be_32_bytes(keys: RoomKeys) -> None:
    with pytest.raises(CryptoError, match="32 bytes"):
        sign_challenge(keys, bytes(16))
