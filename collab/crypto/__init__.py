"""End-to-end encryption for collab rooms: secrets, key derivation, share links, write auth.

The envelope format that uses these keys lives in ``collab.protocol.envelope``. See docs/e2ee.md.
"""

from collab.crypto.auth import (
    AUTH_CONTEXT,
    CHALLENGE_SIZE,
    auth_message,
    new_challenge,
    sign_challenge,
    verify_challenge,
)
from collab.crypto.keys import (
    CryptoError,
    ReadOnlyKeys,
    RoomKeys,
    b64url_decode,
    b64url_encode,
    generate_write_secret,
)
from collab.crypto.links import (
    LinkError,
    ParsedLink,
    parse_link,
    plaintext_link,
    read_link,
    validate_room_name,
    websocket_url,
    write_link,
)

__all__ = [
    "AUTH_CONTEXT",
    "CHALLENGE_SIZE",
    "CryptoError",
    "LinkError",
    "ParsedLink",
    "ReadOnlyKeys",
    "RoomKeys",
    "auth_message",
    "b64url_decode",
    "b64url_encode",
    "generate_write_secret",
    "new_challenge",
    "parse_link",
    "plaintext_link",
    "read_link",
    "sign_challenge",
    "validate_room_name",
    "verify_challenge",
    "websocket_url",
    "write_link",
]
