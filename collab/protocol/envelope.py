"""The E2EE envelope: the only thing an encrypted room's hub relays and stores.

Layout (big-endian)::

    header (69 bytes, also the AES-GCM associated data)
        magic "CLB" (3) | version u8 = 1 | type u8 | room id (16) | epoch u32 |
        author id (16) | author seq u64 | ref u64 | nonce (12)
    ciphertext length u32 | ciphertext (AES-256-GCM, tag included)
    signature (64, Ed25519 over everything before it)      -- update and snapshot only

The header is in the clear on purpose: the hub must route by room id, bound sizes, and read a
snapshot's ``ref`` for compare-and-swap without any key. Binding it as associated data (and,
for document envelopes, under the signature) means the hub can read it but not change it.

Pure: no I/O apart from ``os.urandom`` for nonces and author ids.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from enum import IntEnum

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from collab.crypto.encoding import b64url_encode
from collab.crypto.keys import PUBLIC_KEY_SIZE, ROOM_ID_SIZE, RoomKeys

MAGIC = b"CLB"
VERSION = 1
EPOCH = 0  # a room's first epoch; each rotation adds one (RoomKeys.epoch, collab/protocol/rotation.py)
AUTHOR_ID_SIZE = 16
NONCE_SIZE = 12
TAG_SIZE = 16
SIGNATURE_SIZE = 64
MAX_U64 = 2**64 - 1

_HEADER = struct.Struct(">3sBB16sI16sQQ12s")
_LENGTH = struct.Struct(">I")
HEADER_SIZE = _HEADER.size  # 69
PREFIX_SIZE = HEADER_SIZE + _LENGTH.size  # 73: everything before the ciphertext
MAX_PLAINTEXT = 2**32 - 1 - TAG_SIZE  # the ciphertext length must fit its u32


class EnvelopeType(IntEnum):
    UPDATE = 1
    SNAPSHOT = 2
    AWARENESS = 3


# Awareness is not signed: read-only members must be able to send presence, and the AEAD under
# the awareness key already proves the sender holds the read secret.
SIGNED_TYPES = frozenset({EnvelopeType.UPDATE, EnvelopeType.SNAPSHOT})


class EnvelopeError(ValueError):
    """Base class: this envelope must not be used."""


class MalformedEnvelope(EnvelopeError):
    """Not a well-formed v1 envelope (magic, version, type, lengths, field ranges)."""


class WrongRoom(EnvelopeError):
    """A well-formed envelope for a different room."""


class WrongEpoch(EnvelopeError):
    """An envelope under a key epoch these keys do not have."""


class TamperedEnvelope(EnvelopeError):
    """Signature or AEAD tag failed: altered in transit, or made without the right key."""


class ReplayedEnvelope(EnvelopeError):
    """An author sequence number at or below one already accepted."""


class ReorderedEnvelope(EnvelopeError):
    """A gap in an author's update sequence: updates were reordered or withheld.

    Raised only where a gap cannot be waited out (``ReplayGuard.check``); updates from the room's
    log are held until the gap closes instead (``collab.protocol.replay_guard``)."""

    def __init__(self, message: str, *, expected: int, got: int) -> None:
        super().__init__(message)
        self.expected = expected
        self.got = got


@dataclass(frozen=True, slots=True)
class Envelope:
    """The cleartext view of an envelope: what anyone, the hub included, can read."""

    type: EnvelopeType
    room_id_bytes: bytes
    epoch: int
    author_id: bytes
    author_seq: int
    ref: int  # snapshot: hub sequence number it covers; otherwise 0
    nonce: bytes
    ciphertext: bytes
    signature: bytes | None  # None exactly for awareness
    header: bytes  # the raw 69 bytes, the AEAD associated data

    @property
    def room_id(self) -> str:
        return b64url_encode(self.room_id_bytes)

    @property
    def signed_part(self) -> bytes:
        """header || u32 length || ciphertext: what the signature covers."""
        return self.header + _LENGTH.pack(len(self.ciphertext)) + self.ciphertext

    @property
    def size(self) -> int:
        return PREFIX_SIZE + len(self.ciphertext) + (SIGNATURE_SIZE if self.signature else 0)


@dataclass(frozen=True, slots=True)
class Opened:
    """A decrypted, authenticated envelope."""

    type: EnvelopeType
    author_id: bytes
    author_seq: int
    ref: int
    plaintext: bytes


def new_author_id() -> bytes:
    """A random author id for one client session (not a counter: sessions never coordinate)."""
    return os.urandom(AUTHOR_ID_SIZE)


# --- sealing ------------------------------------------------------------------------------


def seal_update(
    keys: RoomKeys,
    author_id: bytes,
    author_seq: int,
    plaintext: bytes,
    *,
    nonce: bytes | None = None,
) -> bytes:
    """Encrypt and sign one document update. ``nonce`` is for test vectors only."""
    return _seal(keys, EnvelopeType.UPDATE, author_id, author_seq, 0, plaintext, nonce)


def seal_snapshot(
    keys: RoomKeys,
    author_id: bytes,
    author_seq: int,
    covers_seq: int,
    plaintext: bytes,
    *,
    nonce: bytes | None = None,
) -> bytes:
    """Encrypt and sign a snapshot covering hub sequence numbers up to ``covers_seq``."""
    return _seal(keys, EnvelopeType.SNAPSHOT, author_id, author_seq, covers_seq, plaintext, nonce)


def seal_awareness(
    keys: RoomKeys,
    author_id: bytes,
    counter: int,
    plaintext: bytes,
    *,
    nonce: bytes | None = None,
) -> bytes:
    """Encrypt a presence update. Works with read-only keys: awareness is not signed."""
    return _seal(keys, EnvelopeType.AWARENESS, author_id, counter, 0, plaintext, nonce)


def _seal(
    keys: RoomKeys,
    etype: EnvelopeType,
    author_id: bytes,
    author_seq: int,
    ref: int,
    plaintext: bytes,
    nonce: bytes | None,
) -> bytes:
    # Check the signing key first: a read-only member must fail before any work is done.
    signing_key = keys.require_signing_key() if etype in SIGNED_TYPES else None
    if len(author_id) != AUTHOR_ID_SIZE:
        raise ValueError(f"author id must be {AUTHOR_ID_SIZE} bytes, got {len(author_id)}")
    if not 1 <= author_seq <= MAX_U64:
        raise ValueError(f"author seq must be between 1 and 2**64-1, got {author_seq}")
    if not 0 <= ref <= MAX_U64:
        raise ValueError(f"snapshot sequence must be between 0 and 2**64-1, got {ref}")
    if len(plaintext) > MAX_PLAINTEXT:
        raise ValueError(f"plaintext of {len(plaintext)} bytes is too large for one envelope")
    if nonce is None:
        # Random, never a counter: several tabs or devices share one key and cannot coordinate.
        nonce = os.urandom(NONCE_SIZE)
    elif len(nonce) != NONCE_SIZE:
        raise ValueError(f"nonce must be {NONCE_SIZE} bytes, got {len(nonce)}")

    header = _HEADER.pack(
        MAGIC,
        VERSION,
        etype,
        keys.room_id_bytes,
        keys.epoch,
        bytes(author_id),
        author_seq,
        ref,
        bytes(nonce),
    )
    key = keys.awareness_key if etype is EnvelopeType.AWARENESS else keys.doc_key
    ciphertext = AESGCM(key).encrypt(bytes(nonce), bytes(plaintext), header)
    body = header + _LENGTH.pack(len(ciphertext)) + ciphertext
    if signing_key is not None:
        body += signing_key.sign(body)
    return body


# --- parsing and opening --------------------------------------------------------------------


def parse_envelope(data: bytes | bytearray | memoryview) -> Envelope:
    """Read the cleartext structure; needs no keys. Raises :class:`MalformedEnvelope`.

    This is all the hub does with an envelope (plus :func:`verify_signature`): check type,
    room id and size, and read ``ref`` for snapshot compare-and-swap.
    """
    data = bytes(data)
    if not data.startswith(MAGIC):
        if MAGIC.startswith(data):
            raise MalformedEnvelope(f"truncated envelope: only {len(data)} bytes")
        raise MalformedEnvelope("not a collab envelope: the magic bytes are not 'CLB'")
    if len(data) > 3 and data[3] != VERSION:
        raise MalformedEnvelope(
            f"unsupported envelope version {data[3]} (this client speaks version {VERSION})"
        )
    if len(data) > 4 and data[4] not in EnvelopeType._value2member_map_:
        raise MalformedEnvelope(f"unknown envelope type {data[4]}")
    if len(data) < PREFIX_SIZE:
        raise MalformedEnvelope(
            f"truncated envelope: {len(data)} bytes, the header and length alone take {PREFIX_SIZE}"
        )
    _, _, etype_raw, room_id, epoch, author_id, author_seq, ref, nonce = _HEADER.unpack_from(data)
    etype = EnvelopeType(etype_raw)
    (ct_len,) = _LENGTH.unpack_from(data, HEADER_SIZE)
    if ct_len < TAG_SIZE:
        raise MalformedEnvelope(
            f"ciphertext length {ct_len} is shorter than the {TAG_SIZE}-byte AES-GCM tag"
        )
    sig_len = SIGNATURE_SIZE if etype in SIGNED_TYPES else 0
    expected = PREFIX_SIZE + ct_len + sig_len
    if len(data) < expected:
        raise MalformedEnvelope(
            f"truncated {etype.name.lower()} envelope: {len(data)} bytes, expected {expected}"
        )
    if len(data) > expected:
        raise MalformedEnvelope(
            f"{len(data) - expected} trailing bytes after the {etype.name.lower()} envelope"
        )
    if author_seq == 0:
        raise MalformedEnvelope("author seq 0 is invalid: sequences start at 1")
    if ref != 0 and etype is not EnvelopeType.SNAPSHOT:
        raise MalformedEnvelope(f"ref must be 0 for {etype.name.lower()} envelopes, got {ref}")
    ct_end = PREFIX_SIZE + ct_len
    return Envelope(
        type=etype,
        room_id_bytes=room_id,
        epoch=epoch,
        author_id=author_id,
        author_seq=author_seq,
        ref=ref,
        nonce=nonce,
        ciphertext=data[PREFIX_SIZE:ct_end],
        signature=data[ct_end:] if sig_len else None,
        header=data[:HEADER_SIZE],
    )


def verify_signature(write_public_key: bytes, envelope: Envelope) -> bool:
    """True if the envelope is signed by the room's write key.

    Awareness envelopes are never signed, so this is False for them: check the type first.
    """
    if envelope.signature is None or len(write_public_key) != PUBLIC_KEY_SIZE:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(bytes(write_public_key)).verify(
            envelope.signature, envelope.signed_part
        )
    except (InvalidSignature, ValueError):
        return False
    return True


def open_envelope(keys: RoomKeys, data: bytes | bytearray | memoryview | Envelope) -> Opened:
    """Authenticate and decrypt. Every failure is an :class:`EnvelopeError` subclass.

    Checks run in a fixed order (the test vectors rely on it): structure (MalformedEnvelope),
    room id (WrongRoom), epoch (WrongEpoch), signature, then AEAD tag (both TamperedEnvelope).
    The signature comes before decryption because a read-only member can produce a perfectly
    decryptable update; only the signature tells it apart from a writer's.
    """
    env = data if isinstance(data, Envelope) else parse_envelope(data)
    if env.room_id_bytes != keys.room_id_bytes:
        raise WrongRoom(f"envelope belongs to room {env.room_id}, not to room {keys.room_id}")
    if env.epoch != keys.epoch:
        raise WrongEpoch(f"envelope uses key epoch {env.epoch}; these keys are epoch {keys.epoch}")
    kind = env.type.name.lower()
    if env.type in SIGNED_TYPES and not verify_signature(keys.write_public_key, env):
        raise TamperedEnvelope(
            f"{kind} envelope from author {env.author_id.hex()} seq {env.author_seq}: the "
            "signature does not verify under the room's write key (altered, or forged by "
            "someone without the write secret)"
        )
    key = keys.awareness_key if env.type is EnvelopeType.AWARENESS else keys.doc_key
    try:
        plaintext = AESGCM(key).decrypt(env.nonce, env.ciphertext, env.header)
    except InvalidTag:
        raise TamperedEnvelope(
            f"{kind} envelope from author {env.author_id.hex()} seq {env.author_seq}: "
            "decryption failed (ciphertext or header altered, or sealed under another key)"
        ) from None
    return Opened(
        type=env.type,
        author_id=env.author_id,
        author_seq=env.author_seq,
        ref=env.ref,
        plaintext=plaintext,
    )


__all__ = [
    "AUTHOR_ID_SIZE",
    "EPOCH",
    "HEADER_SIZE",
    "MAGIC",
    "NONCE_SIZE",
    "PREFIX_SIZE",
    "ROOM_ID_SIZE",
    "SIGNATURE_SIZE",
    "VERSION",
    "Envelope",
    "EnvelopeError",
    "EnvelopeType",
    "MalformedEnvelope",
    "Opened",
    "ReorderedEnvelope",
    "ReplayedEnvelope",
    "TamperedEnvelope",
    "WrongEpoch",
    "WrongRoom",
    "new_author_id",
    "open_envelope",
    "parse_envelope",
    "seal_awareness",
    "seal_snapshot",
    "seal_update",
    "verify_signature",
]
