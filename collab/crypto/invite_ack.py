"""Invite confirmations: an agent proves to the page that invited it that it holds the sealed-to key.

A page seals a room's secret to the X25519 key the hub lists for an agent (collab/crypto/sealing.py).
If the hub listed its own key, it can open the invite and join as that agent; the page then has to
learn that the agent which answered is not the one it sealed to. So, after joining, the agent
writes an *invite-ack* into the encrypted document. Only the holder of the agent's private key ``a``
and the page (holding the invite's ephemeral ``e``) know ``shared = X25519(e, A) = X25519(a, E)``:

    ack key = HKDF-SHA256(shared, salt = E || A, info = "collab v1 invite-ack", 32 bytes)
    message = "collab v1 invite-ack" || room id (16) || A (32) || E (32) || u64 client id || utf-8 name
    mac     = HMAC-SHA256(ack key, message)

stored as ``invite_acks[b64url(E)] = {"agent": name, "key": b64url(A), "client": "<client id>",
"mac": b64url(mac)}`` (the client id as decimal text: Yjs client ids reach 2^53, and a JSON number
that big does not survive every encoder). ``E`` is the invite id: fresh per invite and bound into the
sealed box. The client id is the agent's Yjs/awareness id, so another participant cannot copy the
ack and show it under its own presence. The label differs from the invite's, so the ack key is
never the invite's AES key. The browser twin is web/src/crypto/inviteack.ts; the vectors are
tests/vectors/invite_ack.json.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from collab.crypto.encoding import b64url_encode
from collab.crypto.sealing import SealedInvite, public_bytes, room_id_bytes

ACK_LABEL = b"collab v1 invite-ack"
ACKS_MAP = "invite_acks"  # the document's top-level Y.Map holding them, by invite id
MAX_CLIENT_ID = 2**64 - 1


def ack_key(shared: bytes, agent_public: bytes, ephemeral_public: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=ephemeral_public + agent_public, info=ACK_LABEL).derive(shared)


def ack_message(room: str, agent_public: bytes, ephemeral_public: bytes, client_id: int, name: str) -> bytes:
    if not 0 <= client_id <= MAX_CLIENT_ID:
        raise ValueError("a client id is an unsigned 64-bit number")
    return ACK_LABEL + room_id_bytes(room) + agent_public + ephemeral_public + client_id.to_bytes(8, "big") + name.encode()


@dataclass(frozen=True)
class InviteAck:
    invite_id: str  # b64url(E)
    agent: str
    key: str  # b64url(A)
    client: int
    mac: bytes

    def to_json(self) -> dict[str, str]:
        return {"agent": self.agent, "key": self.key, "client": str(self.client), "mac": b64url_encode(self.mac)}


def make_ack(invite: SealedInvite, agent_key: X25519PrivateKey, name: str, client_id: int) -> InviteAck:
    """What the agent writes after joining the room of ``invite`` (which it has already opened)."""
    agent_public = public_bytes(agent_key)
    shared = agent_key.exchange(X25519PublicKey.from_public_bytes(invite.ephemeral))
    key = ack_key(shared, agent_public, invite.ephemeral)
    message = ack_message(invite.room, agent_public, invite.ephemeral, client_id, name)
    mac = hmac.new(key, message, hashlib.sha256).digest()
    return InviteAck(b64url_encode(invite.ephemeral), name, b64url_encode(agent_public), client_id, mac)


def check_ack(
    ephemeral: X25519PrivateKey, room: str, agent_public: bytes, name: str, client_id: int, mac: bytes
) -> bool:
    """The page's side (here for tests and for Python inviters): does ``mac`` prove the agent holds
    the private half of ``agent_public``, for this invite, this room, this name and this client?"""
    shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(agent_public))
    key = ack_key(shared, agent_public, public_bytes(ephemeral))
    expected = hmac.new(key, ack_message(room, agent_public, public_bytes(ephemeral), client_id, name), hashlib.sha256).digest()
    return hmac.compare_digest(expected, mac)
