"""Room secrets and everything derived from them.

One 32-byte write secret S is the whole capability to a room. From it, HKDF-SHA256 derives the
write-auth signing key and the read secret R; from R alone derive the room id, the document key,
the awareness key and the reader-auth key (every member proves to the hub it holds R with it). So
whoever holds R (plus the write public key, to check signatures) can read and verify, but cannot
derive the signing key: that is what a read-only link hands out.

Pure: no I/O apart from ``os.urandom`` for fresh secrets.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

# Re-exported for the callers that import them from here; collab/crypto/encoding.py is their home.
from collab.crypto.encoding import b64url_decode as b64url_decode
from collab.crypto.encoding import b64url_encode as b64url_encode

WRITE_SECRET_SIZE = 32
READ_SECRET_SIZE = 32
ROOM_ID_SIZE = 16
SYMMETRIC_KEY_SIZE = 32  # AES-256-GCM
PUBLIC_KEY_SIZE = 32  # raw Ed25519
READ_CAPABILITY_SIZE = READ_SECRET_SIZE + PUBLIC_KEY_SIZE

# Distinct ASCII labels keep every derived value independent of the others; the version in the
# label lets a future construction derive fresh values from the same secret without collisions.
INFO_WRITE_AUTH = b"collab v1 write-auth"
INFO_READ = b"collab v1 read"
INFO_ROOM_ID = b"collab v1 room-id"
INFO_DOC_KEY = b"collab v1 doc-key"
INFO_AWARENESS_KEY = b"collab v1 awareness-key"
INFO_READER_AUTH = b"collab v1 reader-auth"
# Rooms made since rotation existed bind the write public key into their room id (salt W), so a
# read-only link re-issued with another write key names another room and fails to parse.
INFO_ROOM_ID_BOUND = b"collab v1 room-id bound"
MAX_EPOCH = 2**32 - 1  # the envelope header's u32


def epoch_info(epoch: int, name: str) -> bytes:
    """The HKDF label of ``name`` in epoch ``epoch`` >= 1 (epoch 0 keeps the labels above, so rooms
    made before rotation existed read as they always did): ``collab v1 e<epoch> <name>``."""
    if not 1 <= epoch <= MAX_EPOCH:
        raise CryptoError(f"epoch must be between 1 and {MAX_EPOCH}, got {epoch}")
    return f"collab v1 e{epoch} {name}".encode()


class CryptoError(ValueError):
    """Base class for key-material errors raised by collab.crypto."""


class ReadOnlyKeys(CryptoError):
    """An operation needed the write secret but the keys came from a read-only capability."""


# --- derivation ---------------------------------------------------------------------------


def hkdf_sha256(secret: bytes, info: bytes, length: int) -> bytes:
    """HKDF-SHA256 with an empty salt (RFC 5869: the same as HashLen zero bytes).

    No salt is needed because the input is already a uniformly random secret; leaving it empty
    keeps the construction trivially reproducible in WebCrypto.
    """
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=b"", info=info).derive(secret)


def hkdf_salted(secret: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    """HKDF-SHA256 with a salt: epochs >= 1 salt with the room id (and the write public key), so a
    secret opens only the room, and only under the write key, it was made for."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(secret)


def generate_write_secret() -> bytes:
    """A fresh room: 32 bytes from the OS CSPRNG."""
    return os.urandom(WRITE_SECRET_SIZE)


def derive_read_secret(write_secret: bytes) -> bytes:
    _check_len("write secret", write_secret, WRITE_SECRET_SIZE)
    return hkdf_sha256(write_secret, INFO_READ, READ_SECRET_SIZE)


def derive_signing_key(write_secret: bytes) -> Ed25519PrivateKey:
    _check_len("write secret", write_secret, WRITE_SECRET_SIZE)
    seed = hkdf_sha256(write_secret, INFO_WRITE_AUTH, 32)
    return Ed25519PrivateKey.from_private_bytes(seed)


def derive_reader_key(read_secret: bytes) -> Ed25519PrivateKey:
    """The key a member signs the hub's challenge with to be let in as a reader (collab.crypto.auth)."""
    _check_len("read secret", read_secret, READ_SECRET_SIZE)
    return Ed25519PrivateKey.from_private_bytes(hkdf_sha256(read_secret, INFO_READER_AUTH, 32))


def public_key_bytes(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _check_len(what: str, value: bytes, size: int) -> None:
    if not isinstance(value, (bytes, bytearray)):
        raise TypeError(f"{what} must be bytes, not {type(value).__name__}")
    if len(value) != size:
        raise CryptoError(f"{what} must be {size} bytes, got {len(value)}")


@dataclass(frozen=True, eq=True)
class RoomKeys:
    """Everything one member holds for one encrypted room.

    Built only through :meth:`from_write_secret` or :meth:`from_read_capability`, so the fields
    are always consistent with each other. ``repr`` shows only the room id: keys end up in logs
    and tracebacks far too easily.
    """

    room_id: str  # base64url of room_id_bytes, 22 characters; the name the hub knows the room by
    room_id_bytes: bytes
    read_secret: bytes
    doc_key: bytes
    awareness_key: bytes
    write_public_key: bytes
    write_secret: bytes | None = None
    epoch: int = 0  # 0: the room's first keys; each rotation (collab/crypto/epochs.py) adds one
    bound: bool = False  # epoch 0 only: the room id is bound to the write public key (new rooms)
    # Derived from write_secret, so equality on write_secret already covers it.
    signing_key: Ed25519PrivateKey | None = field(default=None, compare=False)

    @classmethod
    def from_write_secret(cls, write_secret: bytes, *, bound: bool = False) -> RoomKeys:
        """``bound``: the room id binds the write public key (how rooms are made now)."""
        write_secret = bytes(write_secret)
        signing_key = derive_signing_key(write_secret)
        return cls._from_read_secret(
            derive_read_secret(write_secret),
            public_key_bytes(signing_key),
            write_secret=write_secret,
            signing_key=signing_key,
            bound=bound,
        )

    @classmethod
    def opening(
        cls, room_id_bytes: bytes, *, write_secret: bytes | None = None, read_capability: bytes | None = None
    ) -> RoomKeys | None:
        """Epoch-0 keys of the room ``room_id_bytes`` from a write secret or read capability: the
        room id of rooms made before binding, or the bound one; None when neither is this room."""
        for bound in (False, True):
            if write_secret is not None:
                keys = cls.from_write_secret(write_secret, bound=bound)
            elif read_capability is not None:
                keys = cls.from_read_capability(read_capability[:READ_SECRET_SIZE], read_capability[READ_SECRET_SIZE:], bound=bound)
            else:
                raise CryptoError("keys come from a write secret or a read capability")
            if keys.room_id_bytes == room_id_bytes:
                return keys
        return None

    @classmethod
    def from_read_capability(cls, read_secret: bytes, write_public_key: bytes, *, bound: bool = False) -> RoomKeys:
        _check_len("read secret", read_secret, READ_SECRET_SIZE)
        _check_len("write public key", write_public_key, PUBLIC_KEY_SIZE)
        try:
            Ed25519PublicKey.from_public_bytes(bytes(write_public_key))
        except ValueError as exc:
            raise CryptoError("write public key is not a valid Ed25519 public key") from exc
        return cls._from_read_secret(bytes(read_secret), bytes(write_public_key), bound=bound)

    @classmethod
    def _from_read_secret(
        cls,
        read_secret: bytes,
        write_public_key: bytes,
        *,
        write_secret: bytes | None = None,
        signing_key: Ed25519PrivateKey | None = None,
        bound: bool = False,
    ) -> RoomKeys:
        if bound:
            room_id_bytes = hkdf_salted(read_secret, write_public_key, INFO_ROOM_ID_BOUND, ROOM_ID_SIZE)
        else:
            room_id_bytes = hkdf_sha256(read_secret, INFO_ROOM_ID, ROOM_ID_SIZE)
        return cls(
            room_id=b64url_encode(room_id_bytes),
            room_id_bytes=room_id_bytes,
            read_secret=read_secret,
            doc_key=hkdf_sha256(read_secret, INFO_DOC_KEY, SYMMETRIC_KEY_SIZE),
            awareness_key=hkdf_sha256(read_secret, INFO_AWARENESS_KEY, SYMMETRIC_KEY_SIZE),
            write_public_key=write_public_key,
            write_secret=write_secret,
            bound=bound,
            signing_key=signing_key,
        )

    @classmethod
    def for_epoch(
        cls,
        room_id_bytes: bytes,
        epoch: int,
        *,
        write_secret: bytes | None = None,
        read_secret: bytes | None = None,
        write_public_key: bytes | None = None,
    ) -> RoomKeys:
        """The keys of epoch ``epoch`` >= 1 of a room, from its write secret or its read capability.

        The room id no longer comes from the secret (it stays the room's first one): it salts every
        derivation instead, and the write public key salts the read side's, so a read capability
        with another write key, or for another room, derives keys that open nothing (docs/e2ee.md).
        """
        _check_len("room id", room_id_bytes, ROOM_ID_SIZE)
        room_id_bytes = bytes(room_id_bytes)
        signing_key: Ed25519PrivateKey | None = None
        if write_secret is not None:
            _check_len("write secret", write_secret, WRITE_SECRET_SIZE)
            write_secret = bytes(write_secret)
            seed = hkdf_salted(write_secret, room_id_bytes, epoch_info(epoch, "write-auth"), 32)
            signing_key = Ed25519PrivateKey.from_private_bytes(seed)
            write_public_key = public_key_bytes(signing_key)
            read_secret = hkdf_salted(write_secret, room_id_bytes, epoch_info(epoch, "read"), READ_SECRET_SIZE)
        elif read_secret is None or write_public_key is None:
            raise CryptoError("an epoch's keys come from its write secret, or its read secret and write public key")
        _check_len("read secret", read_secret, READ_SECRET_SIZE)
        _check_len("write public key", write_public_key, PUBLIC_KEY_SIZE)
        try:
            Ed25519PublicKey.from_public_bytes(bytes(write_public_key))
        except ValueError as exc:
            raise CryptoError("write public key is not a valid Ed25519 public key") from exc
        read_secret, write_public_key = bytes(read_secret), bytes(write_public_key)
        salt = room_id_bytes + write_public_key
        return cls(
            room_id=b64url_encode(room_id_bytes),
            room_id_bytes=room_id_bytes,
            read_secret=read_secret,
            doc_key=hkdf_salted(read_secret, salt, epoch_info(epoch, "doc-key"), SYMMETRIC_KEY_SIZE),
            awareness_key=hkdf_salted(read_secret, salt, epoch_info(epoch, "awareness-key"), SYMMETRIC_KEY_SIZE),
            write_public_key=write_public_key,
            write_secret=write_secret,
            epoch=epoch,
            signing_key=signing_key,
        )

    @property
    def can_write(self) -> bool:
        return self.signing_key is not None

    @property
    def read_capability(self) -> bytes:
        """R || write public key: what a read-only link carries (64 bytes)."""
        return self.read_secret + self.write_public_key

    @property
    def reader_key(self) -> Ed25519PrivateKey:
        """Derived on use (~0.1 ms): only the handshake needs it, once per connection."""
        if self.epoch == 0:
            return derive_reader_key(self.read_secret)
        seed = hkdf_salted(
            self.read_secret, self.room_id_bytes + self.write_public_key, epoch_info(self.epoch, "reader-auth"), 32
        )
        return Ed25519PrivateKey.from_private_bytes(seed)

    @property
    def reader_public_key(self) -> bytes:
        """What the room is created with next to the write key, so the hub can check readers."""
        return public_key_bytes(self.reader_key)

    def read_only(self) -> RoomKeys:
        """The same room without the power to write, as a read-only link would give it."""
        if self.epoch:
            return RoomKeys.for_epoch(
                self.room_id_bytes, self.epoch, read_secret=self.read_secret, write_public_key=self.write_public_key
            )
        return RoomKeys.from_read_capability(self.read_secret, self.write_public_key, bound=self.bound)

    def require_signing_key(self) -> Ed25519PrivateKey:
        if self.signing_key is None:
            raise ReadOnlyKeys(
                f"room {self.room_id}: these keys come from a read-only link and cannot write"
            )
        return self.signing_key

    def __repr__(self) -> str:
        epoch = f", epoch={self.epoch}" if self.epoch else ""
        return f"RoomKeys(room_id={self.room_id!r}, can_write={self.can_write}{epoch})"
