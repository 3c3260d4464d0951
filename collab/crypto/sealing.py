"""Sealed invites: a room's link secret encrypted to one agent's X25519 public key.

A page invites an agent service into an encrypted room without a terminal: it seals the room's
secret to the agent's public key and posts the ciphertext through the hub, which only stores and
relays it. The construction (the browser twin is web/src/crypto/seal.ts; docs/ai.md describes it):

    e, E      = fresh X25519 key pair (one per invite)
    shared    = X25519(e, A)                         A = the agent's public key
    key       = HKDF-SHA256(shared, salt = E || A, info = "collab v1 agent-invite", 32 bytes)
    aad       = "collab v1 agent-invite" || room id (16 bytes) || A || E
    sealed    = AES-256-GCM(key, nonce = 12 random bytes, plaintext, aad)

Binding the room id in the associated data means the hub cannot move an invite to another room,
and binding both public keys means it cannot be replayed to another agent or re-wrapped. The
plaintext is JSON ``{"room": <room id>, "k": <b64url write secret>}`` (or ``"r"``: a read-only
capability); the agent checks that the secret really derives the room id it was sealed for.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from collab.crypto.encoding import b64url_decode, b64url_encode
from collab.crypto.keys import (
    MAX_EPOCH,
    READ_CAPABILITY_SIZE,
    READ_SECRET_SIZE,
    ROOM_ID_SIZE,
    WRITE_SECRET_SIZE,
    CryptoError,
    RoomKeys,
)

LABEL = b"collab v1 agent-invite"
KEY_SIZE = 32
NONCE_SIZE = 12
MAX_PLAINTEXT = 1024  # a room id and one secret: anything bigger is not an invite


class SealError(CryptoError):
    """An invite that cannot be opened or is not what it claims; the message says which.

    ``reason`` is a stable code the test vectors compare (tests/vectors/seal.json), the same one
    web/src/crypto/seal.ts gives: malformed, ephemeral, tag, plaintext, room, secret.
    """

    def __init__(self, message: str, reason: str = "malformed") -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class SealedInvite:
    room: str  # room id, base64url (public: it is in every link's path)
    ephemeral: bytes  # E, 32 bytes
    nonce: bytes
    ciphertext: bytes

    def to_json(self) -> dict[str, str]:
        return {
            "room": self.room,
            "ephemeral": b64url_encode(self.ephemeral),
            "nonce": b64url_encode(self.nonce),
            "ciphertext": b64url_encode(self.ciphertext),
        }

    @classmethod
    def from_json(cls, data: object) -> "SealedInvite":
        if not isinstance(data, dict):
            raise SealError("an invite must be a JSON object")
        try:
            room = str(data["room"])
            ephemeral = b64url_decode(str(data["ephemeral"]))
            nonce = b64url_decode(str(data["nonce"]))
            ciphertext = b64url_decode(str(data["ciphertext"]))
        except KeyError as exc:
            raise SealError(f"the invite has no {exc.args[0]!r}") from None
        except ValueError as exc:
            raise SealError(f"the invite is not base64url: {exc}") from None
        if len(ephemeral) != 32:
            raise SealError("the invite's ephemeral key must be 32 bytes")
        if len(nonce) != NONCE_SIZE:
            raise SealError(f"the invite's nonce must be {NONCE_SIZE} bytes")
        if not 16 < len(ciphertext) <= MAX_PLAINTEXT + 16:
            raise SealError("the invite's ciphertext has an impossible size")
        room_id_bytes(room)
        return cls(room, ephemeral, nonce, ciphertext)


def room_id_bytes(room: str) -> bytes:
    try:
        raw = b64url_decode(room)
    except ValueError:
        raw = b""
    if len(raw) != ROOM_ID_SIZE:
        raise SealError("invites are for encrypted rooms: the room id must be 16 bytes of base64url")
    return raw


def public_bytes(key: X25519PublicKey | X25519PrivateKey) -> bytes:
    public = key.public_key() if isinstance(key, X25519PrivateKey) else key
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_and_aad(shared: bytes, room: str, agent_public: bytes, ephemeral_public: bytes) -> tuple[bytes, bytes]:
    key = HKDF(algorithm=hashes.SHA256(), length=KEY_SIZE, salt=ephemeral_public + agent_public, info=LABEL).derive(shared)
    return key, LABEL + room_id_bytes(room) + agent_public + ephemeral_public


def seal(
    keys: RoomKeys,
    agent_public: bytes,
    *,
    ephemeral: X25519PrivateKey | None = None,
    nonce: bytes | None = None,
) -> SealedInvite:
    """Seal the write secret (read-only keys: the read capability) of ``keys`` to an agent.

    ``ephemeral`` and ``nonce`` are for test vectors only: a reused ephemeral key is a broken invite.
    """
    body: dict[str, str | int] = {"room": keys.room_id}
    if keys.epoch:
        body["e"] = keys.epoch  # after a rotation: the epoch these secrets belong to
    if keys.write_secret is not None:
        body["k"] = b64url_encode(keys.write_secret)
    else:
        body["r"] = b64url_encode(keys.read_capability)
    plaintext = json.dumps(body, separators=(",", ":")).encode()
    return seal_plaintext(keys.room_id, plaintext, agent_public, ephemeral=ephemeral, nonce=nonce)


def seal_plaintext(
    room: str,
    plaintext: bytes,
    agent_public: bytes,
    *,
    ephemeral: X25519PrivateKey | None = None,
    nonce: bytes | None = None,
) -> SealedInvite:
    """The construction itself, for any plaintext: ``seal`` uses it, and the test vectors
    (tests/vectors/make_seal_vectors.py) use it to build invites that must be refused."""
    if len(agent_public) != 32:
        raise SealError("an agent's public key is 32 bytes (X25519)")
    e = ephemeral or X25519PrivateKey.generate()
    e_public = public_bytes(e)
    shared = e.exchange(X25519PublicKey.from_public_bytes(agent_public))
    key, aad = key_and_aad(shared, room, agent_public, e_public)
    nonce = nonce or os.urandom(NONCE_SIZE)
    return SealedInvite(room, e_public, nonce, AESGCM(key).encrypt(nonce, plaintext, aad))


def unseal(invite: SealedInvite, agent_key: X25519PrivateKey) -> RoomKeys:
    """Open an invite sealed to ``agent_key`` and return the room's keys, checked against its room id."""
    agent_public = public_bytes(agent_key)
    try:
        shared = agent_key.exchange(X25519PublicKey.from_public_bytes(invite.ephemeral))
    except ValueError as exc:  # an all-zero shared secret: a malicious ephemeral key
        raise SealError(f"the invite's ephemeral key is unusable: {exc}", "ephemeral") from None
    key, aad = key_and_aad(shared, invite.room, agent_public, invite.ephemeral)
    try:
        plaintext = AESGCM(key).decrypt(invite.nonce, invite.ciphertext, aad)
    except InvalidTag:
        raise SealError("the invite was not sealed to this agent's key, or was altered on the way", "tag") from None
    try:
        body = json.loads(plaintext)
    except ValueError:
        raise SealError("the invite's plaintext is not JSON", "plaintext") from None
    if not isinstance(body, dict) or body.get("room") != invite.room:
        raise SealError("the invite's sealed room id does not match the room it was addressed to", "room")
    epoch = body.get("e", 0)
    if type(epoch) is not int or not 0 <= epoch <= MAX_EPOCH:
        raise SealError("the invite's key epoch is not a whole number", "secret")
    if epoch:
        return _epoch_keys(invite.room, epoch, body)
    if isinstance(body.get("k"), str):
        secret = _decode(body["k"])
        if len(secret) != WRITE_SECRET_SIZE:
            raise SealError("the sealed write secret has the wrong size", "secret")
        keys = RoomKeys.opening(room_id_bytes(invite.room), write_secret=secret) or RoomKeys.from_write_secret(secret)
    elif isinstance(body.get("r"), str):
        capability = _decode(body["r"])
        if len(capability) != READ_CAPABILITY_SIZE:
            raise SealError("the sealed read capability has the wrong size", "secret")
        try:
            keys = RoomKeys.opening(room_id_bytes(invite.room), read_capability=capability) or RoomKeys.from_read_capability(
                capability[:READ_SECRET_SIZE], capability[READ_SECRET_SIZE:]
            )
        except CryptoError:  # not a SealError: callers that drop bad invites would not catch it
            raise SealError("the sealed read capability is not a valid key", "secret") from None
    else:
        raise SealError("the invite carries no room secret", "secret")
    if keys.room_id != invite.room:
        raise SealError("the sealed secret opens a different room than the invite names", "secret")
    return keys


def _epoch_keys(room: str, epoch: int, body: dict[str, object]) -> RoomKeys:
    """An invite to a rotated room: the epoch's write secret or read capability (collab/crypto/keys.py)."""
    try:
        if isinstance(body.get("k"), str):
            secret = _decode(str(body["k"]))
            if len(secret) != WRITE_SECRET_SIZE:
                raise SealError("the sealed write secret has the wrong size", "secret")
            return RoomKeys.for_epoch(room_id_bytes(room), epoch, write_secret=secret)
        if isinstance(body.get("r"), str):
            capability = _decode(str(body["r"]))
            if len(capability) != READ_CAPABILITY_SIZE:
                raise SealError("the sealed read capability has the wrong size", "secret")
            return RoomKeys.for_epoch(
                room_id_bytes(room), epoch, read_secret=capability[:READ_SECRET_SIZE], write_public_key=capability[READ_SECRET_SIZE:]
            )
    except CryptoError as exc:
        if isinstance(exc, SealError):
            raise
        raise SealError("the sealed key is not a valid key", "secret") from None
    raise SealError("the invite carries no room secret", "secret")


def _decode(text: str) -> bytes:
    try:
        return b64url_decode(text)
    except ValueError:
        raise SealError("the sealed secret is not base64url", "secret") from None
