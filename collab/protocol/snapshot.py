"""The plaintext sealed inside a snapshot envelope: the Yjs state plus the replay guard's author
heads, so replay checks carry on after a client joins from the snapshot. Pure: no I/O.

    u32 BE length | JSON {"heads": {author id hex: last update seq}} (UTF-8) | Yjs state update

Same layout as web/src/protocol/snapshot.ts.
"""

from __future__ import annotations

import json
import struct

_PREFIX = struct.Struct(">I")


def encode_snapshot(state: bytes, heads: dict[str, int]) -> bytes:
    meta = json.dumps({"heads": heads}, separators=(",", ":")).encode()
    return _PREFIX.pack(len(meta)) + meta + state


def decode_snapshot(plaintext: bytes) -> tuple[bytes, dict[str, int]]:
    """(Yjs state, author heads); raises ValueError for anything that is not a snapshot."""
    if len(plaintext) < _PREFIX.size:
        raise ValueError("snapshot plaintext is truncated")
    (size,) = _PREFIX.unpack_from(plaintext)
    end = _PREFIX.size + size
    if end > len(plaintext):
        raise ValueError("snapshot metadata runs past the end")
    meta = json.loads(plaintext[_PREFIX.size : end])
    heads = meta.get("heads") if isinstance(meta, dict) else None
    if not isinstance(heads, dict):
        raise ValueError("snapshot metadata has no author heads")
    return plaintext[end:], heads
