"""Framing of what one hub tells the others about a room (carried by the Broker)."""

from __future__ import annotations

import struct
from dataclasses import dataclass

UPDATE = 1
AWARENESS = 2
_HEADER = struct.Struct(">B16sQ")


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
