"""Key epochs: a room's keys after each rotation, and the sealed boxes that hand them to kept devices.

A rotation (``collab.protocol.rotation``) moves a room from epoch ``e`` to ``e + 1`` with a fresh
random write secret ``S'``. Each device kept in the room gets ``S'`` (a writer) or ``R' || W'`` (a
reader) in a box sealed to its X25519 key:

    shared = X25519(ephemeral, device)
    key    = HKDF-SHA256(shared, salt = E || P, info = "collab v1 rotation-box", 32)
    aad    = "collab v1 rotation-box" || room id (16) || u32 epoch || P (32) || E (32)
    box    = E (32) || nonce (12) || AES-256-GCM(key, nonce, JSON {"k": S'} or {"r": R' || W'}, aad)

The box does not name its device (the hub would learn which devices stay): each device tries the
boxes until one opens. Devices that get no box (removed ones) cannot derive the new keys.

``Keyring`` is what a client holds: the current epoch's keys, and read-only keys of every earlier
epoch (the rotation's back-link) with the hub seq each later epoch began at, so history stays
readable while an old-epoch entry placed after its epoch ended is refused. Pure: no I/O apart
from ``os.urandom``.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from collab.crypto.encoding import b64url_decode, b64url_encode
from collab.crypto.keys import PUBLIC_KEY_SIZE, READ_SECRET_SIZE, WRITE_SECRET_SIZE, CryptoError, RoomKeys

BOX_LABEL = b"collab v1 rotation-box"
NONCE_SIZE = 12
BOX_OVERHEAD = 32 + NONCE_SIZE + 16


class EpochError(CryptoError):
    """A rotation or box that cannot be used."""


def x25519_public(key: X25519PrivateKey | X25519PublicKey) -> bytes:
    public = key.public_key() if isinstance(key, X25519PrivateKey) else key
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _box_key(shared: bytes, room_id: bytes, epoch: int, device: bytes, ephemeral: bytes) -> tuple[bytes, bytes]:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=ephemeral + device, info=BOX_LABEL).derive(shared)
    return key, BOX_LABEL + room_id + struct.pack(">I", epoch) + device + ephemeral


def box_plaintext(keys: RoomKeys, *, writer: bool) -> bytes:
    """What a kept device gets: the write secret for a writer, R || W for a reader."""
    if writer:
        if keys.write_secret is None:
            raise EpochError("a writer's box needs the new write secret")
        body = {"k": b64url_encode(keys.write_secret)}
    else:
        body = {"r": b64url_encode(keys.read_secret + keys.write_public_key)}
    return json.dumps(body, separators=(",", ":")).encode()


def seal_box(
    room_id: bytes, epoch: int, device: bytes, plaintext: bytes, *,
    ephemeral: X25519PrivateKey | None = None, nonce: bytes | None = None,
) -> bytes:
    """Seal ``plaintext`` to a device's X25519 public key. ``ephemeral`` and ``nonce``: vectors only."""
    if len(device) != PUBLIC_KEY_SIZE:
        raise EpochError("a device key is 32 bytes (X25519)")
    e = ephemeral or X25519PrivateKey.generate()
    e_public = x25519_public(e)
    key, aad = _box_key(e.exchange(X25519PublicKey.from_public_bytes(device)), room_id, epoch, device, e_public)
    nonce = nonce or os.urandom(NONCE_SIZE)
    return e_public + nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def open_box(room_id: bytes, epoch: int, device_key: X25519PrivateKey, box: bytes) -> bytes | None:
    """The box's plaintext when it was sealed to ``device_key`` for this room and epoch, else None."""
    if len(box) < BOX_OVERHEAD:
        return None
    e_public, nonce, ct = box[:32], box[32 : 32 + NONCE_SIZE], box[32 + NONCE_SIZE :]
    device = x25519_public(device_key)
    try:
        shared = device_key.exchange(X25519PublicKey.from_public_bytes(e_public))
    except ValueError:  # an all-zero shared secret: a hostile ephemeral key
        return None
    key, aad = _box_key(shared, room_id, epoch, device, e_public)
    try:
        return AESGCM(key).decrypt(nonce, ct, aad)
    except InvalidTag:
        return None


def keys_from_box(room_id: bytes, epoch: int, plaintext: bytes) -> RoomKeys:
    """The epoch's keys from an opened box (checked by the caller against the rotation's keys)."""
    try:
        body = json.loads(plaintext)
        if isinstance(body, dict) and isinstance(body.get("k"), str):
            secret = b64url_decode(body["k"])
            if len(secret) != WRITE_SECRET_SIZE:
                raise EpochError("the boxed write secret has the wrong size")
            return RoomKeys.for_epoch(room_id, epoch, write_secret=secret)
        if isinstance(body, dict) and isinstance(body.get("r"), str):
            cap = b64url_decode(body["r"])
            if len(cap) != READ_SECRET_SIZE + PUBLIC_KEY_SIZE:
                raise EpochError("the boxed read capability has the wrong size")
            return RoomKeys.for_epoch(room_id, epoch, read_secret=cap[:READ_SECRET_SIZE], write_public_key=cap[READ_SECRET_SIZE:])
    except (ValueError, CryptoError) as exc:
        raise EpochError(f"the box holds no usable key: {exc}") from None
    raise EpochError("the box holds no key")


def keys_of_link(room_id: bytes, epoch: int, read_secret: bytes, write_public_key: bytes) -> RoomKeys:
    """Read-only keys of an earlier epoch, as a rotation's back-link lists them."""
    if epoch == 0:
        keys = RoomKeys.opening(room_id, read_capability=read_secret + write_public_key)
        if keys is None:
            raise EpochError("the back-link to epoch 0 opens another room")
        return keys
    return RoomKeys.for_epoch(room_id, epoch, read_secret=read_secret, write_public_key=write_public_key)


@dataclass
class Keyring:
    """A client's keys of one room: the current epoch's, and every earlier one's (to read history)."""

    current: RoomKeys
    past: dict[int, RoomKeys] = field(default_factory=dict)  # epoch -> read-only keys
    starts: dict[int, int] = field(default_factory=dict)  # epoch >= 1 -> the hub seq its rotation followed

    @property
    def epoch(self) -> int:
        return self.current.epoch

    def complete(self) -> bool:
        """Every earlier epoch's keys are known (a joiner from a rotated link learns them from the
        room's rotation, which the hub sends before the history)."""
        return all(e in self.past for e in range(self.current.epoch))

    def for_entry(self, seq: int, epoch: int) -> RoomKeys | None:
        """The keys that open a log entry of ``epoch`` at hub seq ``seq``, or None.

        None also for an entry of an earlier epoch placed after the rotation that ended it: once a
        rotation is in, nothing of an older epoch may follow it (a removed writer's, or a replay).
        """
        if epoch == self.current.epoch:
            return self.current
        keys = self.past.get(epoch)
        if keys is None:
            return None
        end = self.starts.get(epoch + 1)
        if end is None or seq > end:
            return None
        return keys

    def advance(self, new: RoomKeys, chain: dict[int, RoomKeys], starts: dict[int, int]) -> None:
        """Move to ``new`` (a later epoch), keeping every earlier epoch readable."""
        if new.epoch <= self.current.epoch and self.current.epoch in chain:
            raise EpochError("a rotation must move to a later epoch")
        old = self.current
        self.past.update(chain)
        if old.epoch < new.epoch:
            self.past[old.epoch] = old.read_only()
        self.starts.update(starts)
        self.current = new

    def learn(self, chain: dict[int, RoomKeys], starts: dict[int, int]) -> None:
        """A joiner of a rotated link: the earlier epochs from the room's rotation."""
        for epoch, keys in chain.items():
            if epoch < self.current.epoch:
                self.past.setdefault(epoch, keys)
        self.starts.update({e: s for e, s in starts.items() if e <= self.current.epoch})
