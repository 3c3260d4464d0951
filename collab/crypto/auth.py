"""Hub authentication: proving to the hub that a connection holds the write or the read secret.

The hub sends a fresh random challenge; a writer signs it with the write-auth key, a reader with
the reader-auth key (derived from the read secret, which every member holds). The hub stores only
the two public keys, so it can turn away strangers without being able to write (or read) anything
itself. The signed message binds a context label and the room id, so a
signature can be neither replayed in another room nor confused with an envelope signature
(envelopes start with b"CLB", never with this label).
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from collab.crypto.keys import PUBLIC_KEY_SIZE, ROOM_ID_SIZE, CryptoError, RoomKeys

AUTH_CONTEXT = b"collab v1 auth"
CHALLENGE_SIZE = 32
SIGNATURE_SIZE = 64


def new_challenge() -> bytes:
    """A fresh challenge for one connection; never reuse one."""
    return os.urandom(CHALLENGE_SIZE)


def auth_message(room_id_bytes: bytes, challenge: bytes) -> bytes:
    """The exact bytes that are signed: AUTH_CONTEXT || room id (16) || challenge (32)."""
    return AUTH_CONTEXT + bytes(room_id_bytes) + bytes(challenge)


def sign_challenge(keys: RoomKeys, challenge: bytes) -> bytes:
    """Answer a hub's challenge. Raises ReadOnlyKeys for keys from a read-only link."""
    if len(challenge) != CHALLENGE_SIZE:
        raise CryptoError(f"challenge must be {CHALLENGE_SIZE} bytes, got {len(challenge)}")
    return keys.require_signing_key().sign(auth_message(keys.room_id_bytes, challenge))


def sign_reader_challenge(keys: RoomKeys, challenge: bytes) -> bytes:
    """Answer a hub's challenge as a reader: any member's keys can, a stranger's cannot."""
    if len(challenge) != CHALLENGE_SIZE:
        raise CryptoError(f"challenge must be {CHALLENGE_SIZE} bytes, got {len(challenge)}")
    return keys.reader_key.sign(auth_message(keys.room_id_bytes, challenge))


def verify_challenge(
    write_public_key: bytes, room_id_bytes: bytes, challenge: bytes, signature: bytes
) -> bool:
    """True only for a valid answer. Never raises on malformed input: it all comes off the wire."""
    if (
        len(write_public_key) != PUBLIC_KEY_SIZE
        or len(room_id_bytes) != ROOM_ID_SIZE
        or len(challenge) != CHALLENGE_SIZE
        or len(signature) != SIGNATURE_SIZE
    ):
        return False
    try:
        public_key = Ed25519PublicKey.from_public_bytes(bytes(write_public_key))
        public_key.verify(bytes(signature), auth_message(room_id_bytes, challenge))
    except (InvalidSignature, ValueError):
        return False
    return True
