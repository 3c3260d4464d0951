"""The E2EE envelope and the replay guard, with real crypto."""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import replace

import pytest

from collab.crypto import ReadOnlyKeys, RoomKeys
from collab.protocol.envelope import (
    HEADER_SIZE,
    PREFIX_SIZE,
    EnvelopeError,
    EnvelopeType,
    MalformedEnvelope,
    Opened,
    ReorderedEnvelope,
    ReplayedEnvelope,
    TamperedEnvelope,
    WrongEpoch,
    WrongRoom,
    new_author_id,
    open_envelope,
    parse_envelope,
    seal_awareness,
    seal_snapshot,
    seal_update,
    verify_signature,
)
from collab.protocol.replay_guard import ReplayGuard

KEYS = RoomKeys.from_write_secret(bytes(range(32)))
OTHER = RoomKeys.from_write_secret(bytes(range(32, 64)))
AUTHOR = bytes(range(0xA0, 0xB0))


def flip(data: bytes, index: int, mask: int = 0x01) -> bytes:
    out = bytearray(data)
    out[index] ^= mask
    return bytes(out)


def reseal_header(data: bytes, **changes: int) -> bytes:
    """Rebuild an update with altered header fields, correctly encrypted and signed.

    Lets a test reach the structural checks that come before any crypto.
    """
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    env = parse_envelope(data)
    fields = {
        "version": 1, "type": int(env.type), "epoch": env.epoch, "seq": env.author_seq,
        "ref": env.ref,
    } | changes
    header = struct.pack(
        ">3sBB16sI16sQQ12s", b"CLB", fields["version"], fields["type"], env.room_id_bytes,
        fields["epoch"], env.author_id, fields["seq"], fields["ref"], env.nonce,
    )
    plaintext = open_envelope(KEYS, data).plaintext
    ct = AESGCM(KEYS.doc_key).encrypt(env.nonce, plaintext, header)
    body = header + struct.pack(">I", len(ct)) + ct
    assert KEYS.signing_key is not None
    return body + KEYS.signing_key.sign(body)


# --- round trips ----------------------------------------------------------------------------


def test_update_round_trip() -> None:
    data = seal_update(KEYS, AUTHOR, 1, b"hello")
    env = parse_envelope(data)
    assert env.type is EnvelopeType.UPDATE
    assert (env.room_id_bytes, env.room_id, env.epoch) == (KEYS.room_id_bytes, KEYS.room_id, 0)
    assert (env.author_id, env.author_seq, env.ref) == (AUTHOR, 1, 0)
    assert len(env.header) == HEADER_SIZE == 69
    assert env.signature is not None and len(env.signature) == 64
    assert len(env.ciphertext) == len(b"hello") + 16
    assert env.size == len(data) == PREFIX_SIZE + len(env.ciphertext) + 64
    assert verify_signature(KEYS.write_public_key, env)
    assert open_envelope(KEYS, data) == Opened(EnvelopeType.UPDATE, AUTHOR, 1, 0, b"hello")


def test_snapshot_round_trip_carries_ref() -> None:
    data = seal_snapshot(KEYS, AUTHOR, 3, 1234, b"state")
    env = parse_envelope(data)
    assert (env.type, env.author_seq, env.ref) == (EnvelopeType.SNAPSHOT, 3, 1234)
    assert verify_signature(KEYS.write_public_key, env)
    opened = open_envelope(KEYS, data)
    assert (opened.type, opened.ref, opened.plaintext) == (EnvelopeType.SNAPSHOT, 1234, b"state")


def test_awareness_round_trip_is_unsigned() -> None:
    data = seal_awareness(KEYS, AUTHOR, 9, b'{"user":{}}')
    env = parse_envelope(data)
    assert env.type is EnvelopeType.AWARENESS and env.signature is None
    assert len(data) == PREFIX_SIZE + len(b'{"user":{}}') + 16
    assert not verify_signature(KEYS.write_public_key, env)
    opened = open_envelope(KEYS, data)
    assert (opened.type, opened.author_seq, opened.plaintext) == (
        EnvelopeType.AWARENESS, 9, b'{"user":{}}',
    )


def test_empty_and_large_plaintexts() -> None:
    assert open_envelope(KEYS, seal_update(KEYS, AUTHOR, 1, b"")).plaintext == b""
    big = bytes(range(256)) * 4096
    assert open_envelope(KEYS, seal_snapshot(KEYS, AUTHOR, 1, 7, big)).plaintext == big


def test_open_accepts_a_parsed_envelope() -> None:
    data = seal_update(KEYS, AUTHOR, 1, b"x")
    assert open_envelope(KEYS, parse_envelope(data)) == open_envelope(KEYS, data)
    assert open_envelope(KEYS, memoryview(data)) == open_envelope(KEYS, bytearray(data))


def test_readers_open_everything_and_send_presence_only() -> None:
    reader = KEYS.read_only()
    for data in (
        seal_update(KEYS, AUTHOR, 1, b"u"),
        seal_snapshot(KEYS, AUTHOR, 1, 5, b"s"),
        seal_awareness(KEYS, AUTHOR, 1, b"a"),
    ):
        assert open_envelope(reader, data) == open_envelope(KEYS, data)
    with pytest.raises(ReadOnlyKeys):
        seal_update(reader, AUTHOR, 1, b"u")
    with pytest.raises(ReadOnlyKeys):
        seal_snapshot(reader, AUTHOR, 1, 5, b"s")
    presence = seal_awareness(reader, new_author_id(), 1, b"here")
    assert open_envelope(KEYS, presence).plaintext == b"here"


def test_nonces_are_random() -> None:
    a = seal_update(KEYS, AUTHOR, 1, b"same")
    b = seal_update(KEYS, AUTHOR, 1, b"same")
    assert parse_envelope(a).nonce != parse_envelope(b).nonce
    assert a != b


def test_fixed_nonce_is_deterministic() -> None:
    nonce = bytes(12)
    assert seal_update(KEYS, AUTHOR, 1, b"x", nonce=nonce) == seal_update(
        KEYS, AUTHOR, 1, b"x", nonce=nonce
    )


def test_new_author_ids_are_random() -> None:
    assert len(new_author_id()) == 16 and new_author_id() != new_author_id()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: seal_update(KEYS, bytes(15), 1, b""), "author id must be 16 bytes"),
        (lambda: seal_update(KEYS, AUTHOR, 0, b""), "author seq"),
        (lambda: seal_update(KEYS, AUTHOR, 2**64, b""), "author seq"),
        (lambda: seal_snapshot(KEYS, AUTHOR, 1, -1, b""), "snapshot sequence"),
        (lambda: seal_awareness(KEYS, AUTHOR, 1, b"", nonce=bytes(8)), "nonce must be 12"),
    ],
)
def test_sealing_refuses_bad_arguments(call: Callable[[], bytes], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_sequence_numbers_use_the_full_u64_range() -> None:
    data = seal_snapshot(KEYS, AUTHOR, 2**64 - 1, 2**64 - 1, b"")
    opened = open_envelope(KEYS, data)
    assert opened.author_seq == opened.ref == 2**64 - 1


# --- tampering ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        seal_update(KEYS, AUTHOR, 1, b"update body"),
        seal_snapshot(KEYS, AUTHOR, 1, 99, b"snapshot body"),
        seal_awareness(KEYS, AUTHOR, 1, b"awareness body"),
    ],
    ids=["update", "snapshot", "awareness"],
)
def test_every_single_bit_flip_is_rejected(data: bytes) -> None:
    for index in range(len(data)):
        for bit in range(8):
            with pytest.raises(EnvelopeError):
                open_envelope(KEYS, flip(data, index, 1 << bit))


@pytest.mark.parametrize("etype", ["update", "awareness"])
def test_every_truncation_and_extension_is_malformed(etype: str) -> None:
    if etype == "update":
        data = seal_update(KEYS, AUTHOR, 1, b"body")
    else:
        data = seal_awareness(KEYS, AUTHOR, 1, b"body")
    for end in range(len(data)):
        with pytest.raises(MalformedEnvelope, match="truncated"):
            parse_envelope(data[:end])
    with pytest.raises(MalformedEnvelope, match="1 trailing bytes"):
        parse_envelope(data + b"\x00")


def test_ciphertext_tamper_is_detected() -> None:
    data = seal_update(KEYS, AUTHOR, 1, b"hello")
    tampered = flip(data, PREFIX_SIZE)
    # The hub's keyless check already catches it for signed envelopes.
    assert not verify_signature(KEYS.write_public_key, parse_envelope(tampered))
    with pytest.raises(TamperedEnvelope, match="signature does not verify"):
        open_envelope(KEYS, tampered)


def test_awareness_tamper_is_caught_by_the_tag() -> None:
    data = seal_awareness(KEYS, AUTHOR, 1, b"hello")
    with pytest.raises(TamperedEnvelope, match="decryption failed"):
        open_envelope(KEYS, flip(data, PREFIX_SIZE + 2))
    with pytest.raises(TamperedEnvelope, match="decryption failed"):
        open_envelope(KEYS, flip(data, HEADER_SIZE - 1))  # last nonce byte, in the AAD


def test_header_fields_are_bound_by_the_signature() -> None:
    data = seal_snapshot(KEYS, AUTHOR, 1, 42, b"state")
    ref_last_byte = 3 + 1 + 1 + 16 + 4 + 16 + 8 + 7
    with pytest.raises(TamperedEnvelope):
        open_envelope(KEYS, flip(data, ref_last_byte))


def test_reader_cannot_forge_an_update() -> None:
    # Holds the doc key (so AES-GCM succeeds) but signs with a key of its own.
    forger = replace(KEYS.read_only(), signing_key=OTHER.signing_key)
    forged = seal_update(forger, AUTHOR, 1, b"evil")
    assert not verify_signature(KEYS.write_public_key, parse_envelope(forged))
    with pytest.raises(TamperedEnvelope):
        open_envelope(KEYS, forged)


def test_signature_swap_is_detected() -> None:
    data = seal_update(KEYS, AUTHOR, 1, b"one")
    other = seal_update(KEYS, AUTHOR, 2, b"two")
    with pytest.raises(TamperedEnvelope):
        open_envelope(KEYS, data[:-64] + other[-64:])


def test_wrong_room() -> None:
    data = seal_update(OTHER, AUTHOR, 1, b"x")
    message = f"belongs to room {OTHER.room_id}, not to room {KEYS.room_id}"
    with pytest.raises(WrongRoom, match=message):
        open_envelope(KEYS, data)


def test_other_keys_claiming_our_room() -> None:
    impostor = replace(OTHER, room_id_bytes=KEYS.room_id_bytes)
    with pytest.raises(TamperedEnvelope):
        open_envelope(KEYS, seal_update(impostor, AUTHOR, 1, b"x"))
    with pytest.raises(TamperedEnvelope):
        open_envelope(KEYS, seal_awareness(impostor, AUTHOR, 1, b"x"))


def test_awareness_and_doc_keys_are_not_interchangeable() -> None:
    swapped = replace(KEYS, awareness_key=KEYS.doc_key, doc_key=KEYS.awareness_key)
    with pytest.raises(TamperedEnvelope):
        open_envelope(KEYS, seal_awareness(swapped, AUTHOR, 1, b"x"))
    with pytest.raises(TamperedEnvelope):
        open_envelope(KEYS, seal_update(swapped, AUTHOR, 1, b"x"))


def test_wrong_epoch() -> None:
    data = reseal_header(seal_update(KEYS, AUTHOR, 1, b"x"), epoch=1)
    assert parse_envelope(data).epoch == 1
    with pytest.raises(WrongEpoch, match="epoch 1"):
        open_envelope(KEYS, data)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"version": 2}, "unsupported envelope version 2"),
        ({"type": 0}, "unknown envelope type 0"),
        ({"type": 4}, "unknown envelope type 4"),
        ({"seq": 0}, "author seq 0"),
        ({"ref": 1}, "ref must be 0 for update envelopes"),
    ],
)
def test_structural_errors(changes: dict[str, int], message: str) -> None:
    data = reseal_header(seal_update(KEYS, AUTHOR, 1, b"x"), **changes)
    with pytest.raises(MalformedEnvelope, match=message):
        parse_envelope(data)
    with pytest.raises(MalformedEnvelope, match=message):
        open_envelope(KEYS, data)


def test_bad_magic_and_short_inputs() -> None:
    with pytest.raises(MalformedEnvelope, match="not a collab envelope"):
        parse_envelope(b"XYZ" + bytes(100))
    with pytest.raises(MalformedEnvelope, match="not a collab envelope"):
        parse_envelope(b"\x00")
    for short in (b"", b"C", b"CL", b"CLB"):
        with pytest.raises(MalformedEnvelope, match="truncated"):
            parse_envelope(short)


def test_ciphertext_shorter_than_tag() -> None:
    header = parse_envelope(seal_update(KEYS, AUTHOR, 1, b"x")).header
    with pytest.raises(MalformedEnvelope, match="shorter than the 16-byte AES-GCM tag"):
        parse_envelope(header + struct.pack(">I", 15) + bytes(15 + 64))


def test_awareness_with_a_signature_is_malformed() -> None:
    with pytest.raises(MalformedEnvelope, match="64 trailing bytes"):
        parse_envelope(seal_awareness(KEYS, AUTHOR, 1, b"x") + bytes(64))


def test_verify_signature_rejects_bad_keys() -> None:
    env = parse_envelope(seal_update(KEYS, AUTHOR, 1, b"x"))
    assert not verify_signature(OTHER.write_public_key, env)
    assert not verify_signature(bytes(31), env)


# --- replay guard ---------------------------------------------------------------------------


def opened(etype: EnvelopeType, seq: int, author: bytes = AUTHOR) -> Opened:
    return Opened(etype, author, seq, 0, b"")


U, S, A = EnvelopeType.UPDATE, EnvelopeType.SNAPSHOT, EnvelopeType.AWARENESS


def test_guard_accepts_consecutive_updates_per_author() -> None:
    guard = ReplayGuard()
    other = bytes(16)
    for seq in (1, 2, 3):
        guard.check(opened(U, seq))
    guard.check(opened(U, 1, other))
    guard.check(opened(U, 4))
    assert guard.export() == {other.hex(): 1, AUTHOR.hex(): 4}


def test_guard_reports_replays() -> None:
    guard = ReplayGuard()
    guard.check(opened(U, 1))
    guard.check(opened(U, 2))
    for seq in (1, 2):
        with pytest.raises(ReplayedEnvelope, match=f"update {seq} from author {AUTHOR.hex()}"):
            guard.check(opened(U, seq))
    guard.check(opened(U, 3))


def test_guard_reports_gaps_and_records_nothing() -> None:
    guard = ReplayGuard()
    guard.check(opened(U, 1))
    with pytest.raises(ReorderedEnvelope, match="updates 2..3 were reordered or withheld") as info:
        guard.check(opened(U, 4))
    assert (info.value.expected, info.value.got) == (2, 4)
    guard.check(opened(U, 2))  # the gap did not move the head
    guard.check(opened(U, 3))
    guard.check(opened(U, 4))


def test_guard_can_accept_a_reported_gap() -> None:
    guard = ReplayGuard()
    guard.check(opened(U, 1))
    guard.check(opened(U, 5), allow_gap=True)
    with pytest.raises(ReplayedEnvelope):
        guard.check(opened(U, 3))
    guard.check(opened(U, 6))


def test_unknown_author_must_start_at_one() -> None:
    guard = ReplayGuard()
    with pytest.raises(ReorderedEnvelope, match="but 1 was expected"):
        guard.check(opened(U, 7))


def test_snapshot_heads_let_authors_continue() -> None:
    writer = ReplayGuard()
    for seq in (1, 2, 3):
        writer.check(opened(U, seq))
    heads = writer.export()

    joiner = ReplayGuard()
    joiner.load(heads)
    with pytest.raises(ReplayedEnvelope):
        joiner.check(opened(U, 3))  # already folded into the snapshot
    joiner.check(opened(U, 4))
    with pytest.raises(ReorderedEnvelope):
        joiner.check(opened(U, 2, bytes(16)))  # an author the snapshot never saw starts at 1


def test_load_never_moves_a_head_backwards_and_validates_first() -> None:
    guard = ReplayGuard()
    for seq in (1, 2, 3):
        guard.check(opened(U, seq))
    guard.load({AUTHOR.hex(): 1})
    assert guard.export() == {AUTHOR.hex(): 3}
    for bad in ({"zz": 1}, {"00" * 15: 1}, {AUTHOR.hex(): 0}, {AUTHOR.hex(): True}):
        with pytest.raises(ValueError):
            guard.load({(bytes(16)).hex(): 5, **bad})  # type: ignore[dict-item]
    assert guard.export() == {AUTHOR.hex(): 3}


@pytest.mark.parametrize("etype", [S, A])
def test_snapshots_and_awareness_allow_gaps_but_not_replays(etype: EnvelopeType) -> None:
    guard = ReplayGuard()
    guard.check(opened(etype, 5))
    guard.check(opened(etype, 9))
    for seq in (9, 6, 1):
        with pytest.raises(ReplayedEnvelope):
            guard.check(opened(etype, seq))
    assert guard.export() == {}


def test_type_classes_are_tracked_separately() -> None:
    guard = ReplayGuard()
    guard.check(opened(A, 1))
    guard.check(opened(S, 1))
    guard.check(opened(U, 1))
    guard.check(opened(A, 2))


def test_guard_end_to_end_with_real_envelopes() -> None:
    author = new_author_id()
    stream = [seal_update(KEYS, author, seq, f"edit {seq}".encode()) for seq in (1, 2, 3)]
    guard = ReplayGuard()
    guard.check(open_envelope(KEYS, stream[0]))
    with pytest.raises(ReorderedEnvelope):  # the hub held back #2
        guard.check(open_envelope(KEYS, stream[2]))
    guard.check(open_envelope(KEYS, stream[1]))
    with pytest.raises(ReplayedEnvelope):  # the hub replays #2
        guard.check(open_envelope(KEYS, stream[1]))
    guard.check(open_envelope(KEYS, stream[2]))
