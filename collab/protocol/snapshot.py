"""The plaintext sealed inside a snapshot envelope: the Yjs state plus the replay guard's author
heads, so replay checks carry on after a client joins from the snapshot. Pure: no I/O.

    u32 BE length | JSON {"heads": {author id hex: last update seq}, "log": hex} (UTF-8) | Yjs state update

``log`` (optional: snapshots made before fork detection have none) is the writer's running hash of
the room's log at the seq the snapshot covers (collab.protocol.log_hash).

Same layout as web/src/protocol/snapshot.ts.
"""

from __future__ import annotations

import json
import struct

_PREFIX = struct.Struct(">I")


def encode_snapshot(state: bytes, heads: dict[str, int], log_hash: bytes | None = None) -> bytes:
    body: dict[str, object] = {"heads": heads}
    if log_hash is not None:
        body["log"] = log_hash.hex()
    meta = json.dumps(body, separators=(",", ":")).encode()
    return _PREFIX.pack(len(meta)) + meta + state


def snapshot_log_hash(plaintext: bytes) -> bytes | None:
    """The log hash a snapshot commits to, or None (none, or not 32 bytes of hex)."""
    try:
        (size,) = _PREFIX.unpack_from(plaintext)
        meta = json.loads(plaintext[_PREFIX.size : _PREFIX.size + size])
        raw = bytes.fromhex(meta["log"]) if isinstance(meta, dict) and isinstance(meta.get("log"), str) else None
    except (ValueError, struct.error):
        return None
    return raw if raw is not None and len(raw) == 32 else None


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
