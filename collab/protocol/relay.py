"""Framing of what one hub tells the others about a room (carried by the Broker).

Pure encode/decode, no I/O. A relay message is a fixed header (kind, the sending hub's 16-byte id,
a u64) followed by an opaque payload. The u64 is the entry's seq for ``UPDATE``, and the sending
connection's id for ``AWARENESS`` and ``LEFT`` (encrypted rooms; plaintext rooms send 0).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

UPDATE: Final = 1  # a durable entry of the room's log (a Yjs update, or an encrypted envelope)
AWARENESS: Final = 2  # presence of one connection
LEFT: Final = 3  # a connection of an encrypted room left: its presence goes
ROTATED: Final = 4  # an encrypted room moved to a new key epoch; the payload is the rotation envelope

_HEADER = struct.Struct(">B16sQ")
HEADER_SIZE: Final = _HEADER.size


@dataclass(frozen=True, slots=True)
class RelayMessage:
    kind: int
    hub_id: bytes
    seq: int
    payload: bytes


def encode_relay(kind: int, hub_id: bytes, seq: int, payload: bytes) -> bytes:
    return _HEADER.pack(kind, hub_id, seq) + payload


def decode_relay(data: bytes) -> RelayMessage:
    if len(data) < _HEADER.size:
        raise ValueError("relay message too short")
    kind, hub_id, seq = _HEADER.unpack_from(data)
    return RelayMessage(kind, hub_id, seq, data[_HEADER.size :])
