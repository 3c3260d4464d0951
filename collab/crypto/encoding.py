"""Text forms of key material, written once for the whole package: base64url and fingerprints.

Pure: no I/O. The browser twins are web/src/crypto/b64url.ts and the fingerprint in
web/src/crypto/seal.ts; the hub, the clients and the agent all use these functions, so a key
has one textual form wherever it is shown or parsed.
"""

from __future__ import annotations

import base64
import hashlib
import re

__all__ = ["b64url_decode", "b64url_encode", "fingerprint"]

_B64URL_ALPHABET = re.compile(r"[A-Za-z0-9_-]*")


def b64url_encode(data: bytes) -> str:
    """base64url without padding (RFC 4648 §5), the form used in links and room ids."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Strict inverse of :func:`b64url_encode`.

    Rejects padding, the standard alphabet's ``+``/``/``, whitespace and non-canonical trailing
    bits, so that every byte string has exactly one textual form: two links that differ in text
    never silently name the same secret, and a mangled link fails loudly instead of decoding to
    different bytes. Raises ValueError.
    """
    if not _B64URL_ALPHABET.fullmatch(text):
        raise ValueError("not base64url: only A-Z a-z 0-9 - _ are allowed, without '=' padding")
    if len(text) % 4 == 1:
        raise ValueError(f"base64url text of length {len(text)} is impossible (truncated?)")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if b64url_encode(data) != text:
        raise ValueError("non-canonical base64url: the last character carries stray bits")
    return data


def fingerprint(public_key: bytes) -> str:
    """First 16 bytes of SHA-256, grouped in fours: what a page shows before inviting an agent."""
    digest = hashlib.sha256(public_key).hexdigest()[:32]
    return " ".join(digest[i : i + 4] for i in range(0, 32, 4))
