"""Several relay messages of one room in one pub/sub message.

Each pub/sub message costs the receiving hub a parse and a dispatch in the Redis client (tens of
microseconds in redis-py), whatever its size; a group commit of many entries, or a burst of
presence, goes out as one bundle per room instead, and every other hub handles the batch in one
read. A bundle is ``BUNDLE`` (a byte no relay message starts with: their kinds start at 1) and then,
for each message, its length (u32, big-endian) and its bytes (collab.protocol.relay). A single
message is sent as it is, so a hub from before bundles still reads every message not bundled.
Every message of a bundle comes from the hub that sent it (its script or its publisher), so a hub
tells its own bundles, echoed back by Redis, by the first message's hub id alone.
"""

from __future__ import annotations

import struct
from typing import Final, Iterator

BUNDLE: Final = b"\x00"
MAX_BYTES: Final = 1 << 20  # per bundle: a subscriber's output buffer in Redis stays far below its limits

_LEN = struct.Struct(">I")


def bundles(messages: list[bytes]) -> Iterator[bytes]:
    """``messages`` (in order) as few pub/sub messages of at most about MAX_BYTES each."""
    if len(messages) == 1:
        yield messages[0]
        return
    parts: list[bytes] = []
    size = 0
    for message in messages:
        if parts and size + len(message) > MAX_BYTES:
            yield _join(parts)
            parts, size = [], 0
        parts.append(message)
        size += len(message) + 4
    if parts:
        yield _join(parts)


def _join(parts: list[bytes]) -> bytes:
    if len(parts) == 1:
        return parts[0]
    return BUNDLE + b"".join(_LEN.pack(len(p)) + p for p in parts)


def unbundle(data: bytes) -> Iterator[bytes]:
    """The relay messages in a pub/sub message: itself, or those of the bundle it is.

    A malformed bundle yields what it holds before the damage, then raises ValueError."""
    if data[:1] != BUNDLE:
        yield data
        return
    view = memoryview(data)
    pos, end = 1, len(data)
    while pos < end:
        if pos + 4 > end:
            raise ValueError("truncated relay bundle")
        (n,) = _LEN.unpack_from(view, pos)
        pos += 4
        if pos + n > end:
            raise ValueError("truncated relay bundle")
        yield data[pos : pos + n]
        pos += n
