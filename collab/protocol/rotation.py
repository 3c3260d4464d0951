"""The rotation envelope: how a writer moves a room to a new key epoch (docs/e2ee.md, "Rotation").

Layout (big-endian)::

    header (69 bytes, the envelope header with type 4; AES-GCM associated data)
        "CLB" | version 1 | type 4 | room id (16) | new epoch u32 | author id (16) | author seq u64 |
        ref u64 (the hub head it follows: compare-and-swap, like a snapshot) | nonce (12)
    u32 length | ciphertext     AES-256-GCM under the NEW epoch's doc key: JSON {"chain": [...],
                               "starts": {...}, "removed": [...], "log": hex}: the back-link
    u32 length | key block      new write public key (32) | new reader public key (32) |
                               u16 count | count x (u16 length | box)   (collab.crypto.epochs)
    proof (64)                 Ed25519 by the NEW write key over "collab v1 rotation-proof" || all before
    signature (64)             Ed25519 by the CURRENT epoch's write key over all before

The hub checks, without any secret: the structure, the room, that the epoch is its current one + 1,
the signature under the write key it holds, and the proof under the key the block names (so nobody
can move a room to a write key they do not hold); then it swaps the keys atomically with the head
check. A kept device opens its box, derives the new keys, checks they are the ones the block names,
and reads the back-link. Type 4 is not a log entry: ``parse_envelope`` refuses it, and it travels
only in ROTATE and ROTATED frames. Pure: no I/O apart from ``os.urandom``.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from collab.crypto.encoding import b64url_decode, b64url_encode
from collab.crypto.epochs import EpochError, keys_from_box, keys_of_link, open_box
from collab.crypto.keys import MAX_EPOCH, PUBLIC_KEY_SIZE, RoomKeys
from collab.protocol.envelope import (
    AUTHOR_ID_SIZE,
    MAGIC,
    MAX_U64,
    NONCE_SIZE,
    SIGNATURE_SIZE,
    TAG_SIZE,
    VERSION,
)

ROTATION_TYPE = 4
PROOF_LABEL = b"collab v1 rotation-proof"
MAX_BOXES = 4096

_HEADER = struct.Struct(">3sBB16sI16sQQ12s")
_U32 = struct.Struct(">I")
_U16 = struct.Struct(">H")
HEADER_SIZE = _HEADER.size


class RotationError(EpochError):
    """A rotation envelope that must not be used (malformed, forged, or not for us)."""


class Removed(RotationError):
    """A genuine rotation with no box for this device: it was removed from the session."""


@dataclass(frozen=True, slots=True)
class Rotation:
    """The cleartext view of a rotation: what the hub reads."""

    room_id_bytes: bytes
    epoch: int  # the new epoch
    author_id: bytes
    author_seq: int
    ref: int
    header: bytes
    ciphertext: bytes
    write_key: bytes  # the new write public key
    read_key: bytes  # the new reader public key
    boxes: tuple[bytes, ...]
    proof: bytes
    signature: bytes
    data: bytes  # the whole envelope

    @property
    def proven_part(self) -> bytes:
        return PROOF_LABEL + self.data[: -2 * SIGNATURE_SIZE]

    @property
    def signed_part(self) -> bytes:
        return self.data[:-SIGNATURE_SIZE]


@dataclass(frozen=True, slots=True)
class Opened:
    """A rotation opened by a member: the new epoch's keys and every earlier epoch's."""

    keys: RoomKeys
    chain: dict[int, RoomKeys]  # epoch -> read-only keys, every epoch before the new one
    starts: dict[int, int]  # epoch >= 1 -> the hub seq its rotation followed (this one's included)
    removed: tuple[str, ...]
    log_hash: bytes | None  # the rotator's running hash of the log up to ``ref`` (fork detection)
    ref: int


def seal_rotation(
    old: RoomKeys,
    new: RoomKeys,
    *,
    ref: int,
    chain: dict[int, RoomKeys],
    starts: dict[int, int],
    boxes: list[bytes],
    author_id: bytes,
    removed: tuple[str, ...] = (),
    log_hash: bytes | None = None,
    nonce: bytes | None = None,
) -> bytes:
    """Move from ``old`` (a writer's keys) to ``new`` (epoch old + 1, from a fresh write secret).

    ``chain`` holds every epoch before ``old`` (read-only keys will do); ``old`` is added to it.
    """
    signing = old.require_signing_key()
    new_signing = new.require_signing_key()
    if new.epoch != old.epoch + 1 or new.room_id_bytes != old.room_id_bytes:
        raise RotationError("a rotation moves a room to its next epoch")
    if len(boxes) > MAX_BOXES:
        raise RotationError(f"at most {MAX_BOXES} devices per rotation")
    nonce = nonce or os.urandom(NONCE_SIZE)
    header = _HEADER.pack(MAGIC, VERSION, ROTATION_TYPE, new.room_id_bytes, new.epoch, author_id, 1, ref, nonce)
    links = {**chain, old.epoch: old}
    body = {
        "chain": [
            {"e": e, "r": b64url_encode(k.read_secret), "w": b64url_encode(k.write_public_key)}
            for e, k in sorted(links.items())
        ],
        "starts": {str(e): s for e, s in sorted({**starts, new.epoch: ref}.items())},
        "removed": list(removed),
    }
    if log_hash is not None:
        body["log"] = log_hash.hex()
    ct = AESGCM(new.doc_key).encrypt(nonce, json.dumps(body, separators=(",", ":")).encode(), header)
    block = new.write_public_key + new.reader_public_key + _U16.pack(len(boxes))
    block += b"".join(_U16.pack(len(b)) + b for b in boxes)
    data = header + _U32.pack(len(ct)) + ct + _U32.pack(len(block)) + block
    data += new_signing.sign(PROOF_LABEL + data)
    return data + signing.sign(data)


def parse_rotation(data: bytes | bytearray | memoryview) -> Rotation:
    """The structure of a rotation envelope; needs no keys. Raises RotationError."""
    data = bytes(data)
    if len(data) < HEADER_SIZE + 4:
        raise RotationError("truncated rotation envelope")
    magic, version, etype, room_id, epoch, author_id, author_seq, ref, _nonce = _HEADER.unpack_from(data)
    if magic != MAGIC or version != VERSION or etype != ROTATION_TYPE:
        raise RotationError("not a rotation envelope")
    if not 1 <= epoch <= MAX_EPOCH or author_seq == 0 or len(author_id) != AUTHOR_ID_SIZE or ref > MAX_U64:
        raise RotationError("a rotation's epoch and author seq start at 1")
    pos = HEADER_SIZE
    (ct_len,) = _U32.unpack_from(data, pos)
    pos += 4
    if ct_len < TAG_SIZE or pos + ct_len + 4 > len(data):
        raise RotationError("the rotation's ciphertext runs past its end")
    ct = data[pos : pos + ct_len]
    pos += ct_len
    (block_len,) = _U32.unpack_from(data, pos)
    pos += 4
    if pos + block_len + 2 * SIGNATURE_SIZE != len(data) or block_len < 2 * PUBLIC_KEY_SIZE + 2:
        raise RotationError("the rotation's key block and signatures do not fill it exactly")
    block = data[pos : pos + block_len]
    write_key, read_key = block[:PUBLIC_KEY_SIZE], block[PUBLIC_KEY_SIZE : 2 * PUBLIC_KEY_SIZE]
    (count,) = _U16.unpack_from(block, 2 * PUBLIC_KEY_SIZE)
    at = 2 * PUBLIC_KEY_SIZE + 2
    boxes = []
    for _ in range(count):
        if at + 2 > len(block):
            raise RotationError("the rotation's boxes run past the key block")
        (size,) = _U16.unpack_from(block, at)
        at += 2
        if at + size > len(block):
            raise RotationError("the rotation's boxes run past the key block")
        boxes.append(block[at : at + size])
        at += size
    if at != len(block):
        raise RotationError("trailing bytes in the rotation's key block")
    end = pos + block_len
    return Rotation(
        room_id, epoch, author_id, author_seq, ref, data[:HEADER_SIZE], ct, write_key, read_key, tuple(boxes),
        data[end : end + SIGNATURE_SIZE], data[end + SIGNATURE_SIZE :], data,
    )


def _verifies(public_key: bytes, signature: bytes, message: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def check_rotation(rotation: Rotation, room_id: bytes, current_epoch: int, current_write_key: bytes) -> str | None:
    """The hub's checks: why this rotation must be refused, or None. Never quotes content."""
    if rotation.room_id_bytes != room_id:
        return "the rotation belongs to another room"
    if rotation.epoch != current_epoch + 1:
        return f"the rotation is to epoch {rotation.epoch}; the room is at epoch {current_epoch}"
    if not _verifies(current_write_key, rotation.signature, rotation.signed_part):
        return "the rotation's signature does not verify under the room's write key"
    if not _verifies(rotation.write_key, rotation.proof, rotation.proven_part):
        return "the rotation does not prove possession of its new write key"
    return None


def open_rotation(
    data: bytes | Rotation,
    current: RoomKeys,
    *,
    device_key: X25519PrivateKey | None = None,
) -> Opened:
    """Open a rotation as a member: a later epoch through this device's box (``device_key``), or the
    current epoch's own rotation (a joiner of a rotated link: for the back-link). Checks the proof,
    that the boxed keys are the ones the block names, the back-link (it must list ``current`` as it
    is, when ``current`` is older) and the signature under the epoch before. Raises
    :class:`Removed` when no box opens, RotationError for anything forged or malformed."""
    rot = data if isinstance(data, Rotation) else parse_rotation(data)
    room = current.room_id_bytes
    if rot.room_id_bytes != room:
        raise RotationError("the rotation belongs to another room")
    if not _verifies(rot.write_key, rot.proof, rot.proven_part):
        raise RotationError("the rotation does not prove possession of its new write key")
    if rot.epoch == current.epoch + 1 and not _verifies(current.write_public_key, rot.signature, rot.signed_part):
        # Checked before the boxes: a forged rotation must not make a kept device think it was removed.
        raise RotationError("the rotation is not signed by this epoch's write key")
    if rot.epoch == current.epoch:
        keys = current
    elif rot.epoch > current.epoch:
        if device_key is None:
            raise Removed(f"the room moved to epoch {rot.epoch} and this client has no device key to open it")
        plain = next((p for p in (open_box(room, rot.epoch, device_key, b) for b in rot.boxes) if p is not None), None)
        if plain is None:
            raise Removed(f"the room moved to epoch {rot.epoch} without a key for this device")
        keys = keys_from_box(room, rot.epoch, plain)
    else:
        raise RotationError(f"a rotation to epoch {rot.epoch}, older than this client's {current.epoch}")
    if keys.write_public_key != rot.write_key or keys.reader_public_key != rot.read_key:
        raise RotationError("the boxed keys are not the ones the rotation names")
    try:
        body = json.loads(AESGCM(keys.doc_key).decrypt(rot.header[-NONCE_SIZE:], rot.ciphertext, rot.header))
    except InvalidTag:
        raise RotationError("the rotation's back-link does not decrypt under the new epoch's key") from None
    except ValueError:
        raise RotationError("the rotation's back-link is not JSON") from None
    try:
        chain = {
            int(link["e"]): keys_of_link(room, int(link["e"]), b64url_decode(link["r"]), b64url_decode(link["w"]))
            for link in body["chain"]
        }
        starts = {int(e): int(s) for e, s in body["starts"].items()}
        removed = tuple(str(n) for n in body.get("removed", []))
        log_hash = bytes.fromhex(body["log"]) if isinstance(body.get("log"), str) else None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise RotationError(f"the rotation's back-link is malformed: {exc}") from None
    if set(chain) != set(range(rot.epoch)) or starts.get(rot.epoch) != rot.ref:
        raise RotationError("the rotation's back-link does not list every earlier epoch")
    previous = chain[rot.epoch - 1]
    if not _verifies(previous.write_public_key, rot.signature, rot.signed_part):
        raise RotationError("the rotation is not signed by the epoch before it")
    if current.epoch < rot.epoch:
        mine = chain.get(current.epoch)
        if mine is None or mine.read_secret != current.read_secret or mine.write_public_key != current.write_public_key:
            raise RotationError("the rotation's back-link does not continue this client's epoch")
    return Opened(keys, chain, starts, removed, log_hash, rot.ref)


__all__ = [
    "Opened",
    "Removed",
    "Rotation",
    "RotationError",
    "ROTATION_TYPE",
    "check_rotation",
    "open_rotation",
    "parse_rotation",
    "seal_rotation",
]
