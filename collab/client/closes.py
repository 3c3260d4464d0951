"""What each close code from the hub means to a client: final (tell the person) or retry.

One table per room kind; the codes that mean the same in both are written once. A code in no
table (going away, internal error, slow consumer, ...) means "reconnect with backoff"; the hub sends the
codes of ``close_codes.RETRYABLE`` to ask for exactly that even before a first sync.
"""

from __future__ import annotations

from typing import Final, Mapping

from collab.protocol import close_codes

# The hub would answer the same frame the same way every time (docs/protocol.md).
FINAL_CLOSES: Final[Mapping[int, str]] = {
    close_codes.PROTOCOL_ERROR: "the hub reported a protocol error",
    close_codes.UNSUPPORTED_DATA: "the hub refused a frame it cannot read",
    close_codes.POLICY: "the hub refused this client (origin policy)",
    close_codes.TOO_BIG: "an edit is larger than the hub's frame limit (its --max-frame-bytes)",
}

PLAINTEXT_FINAL_CLOSES: Final[Mapping[int, str]] = {
    **FINAL_CLOSES,
    close_codes.UNAUTHORIZED: "not a writer of this room",
    close_codes.FORBIDDEN: "this room is end-to-end encrypted: use its full link (with #k=...)",
    close_codes.NOT_FOUND: "no such room on this hub",
}

ENCRYPTED_FINAL_CLOSES: Final[Mapping[int, str]] = {
    **FINAL_CLOSES,
    close_codes.UNAUTHORIZED: "the hub refused this link: its write or reader key is not the room's",
    close_codes.FORBIDDEN: "the hub refused this room kind: it is not an end-to-end encrypted room",
    close_codes.NOT_FOUND: "no such room on this hub (encrypted rooms are created with `collab new`)",
}


def final_http_status(status: int) -> bool:
    """An HTTP answer to the upgrade that retrying cannot change (403 origin, 404 path, ...)."""
    return 400 <= status < 500 and status not in (408, 429)
