"""Framing of what one hub tells the others about a room (carried by the Broker).

Pure encode/decode, no I/O. A relay message is a fixed header (kind, the sending hub's 16-byte id,
a u64) followed by an opaque payload. The u64 is the entry's seq for ``UPDATE``, the sending
connection's id for ``AWARENESS`` and ``LEFT`` (encrypted rooms; plaintext rooms send 0), and the
addressee for ``DIRECT`` (a connection id in encrypted rooms, a Yjs client id in plaintext ones),
whose payload is the sender's id (u64) and then the message.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

UPDATE: Final = 1  # a durable entry of the room's log (a Yjs update, or an encrypted envelope)
AWARENESS: Final = 2  # presence of one connection
LEFT: Final = 3  # a connection of an encrypted room left: its presence goes
ROTATED: Final = 4  # an encrypted room moved to a new key epoch; the payload is the rotation envelope
DIRECT: Final = 5  # an addressed ephemeral message for a client of whichever hub holds it

_HEADER = struct.Struct(">B16sQ")
_SENDER = struct.Struct(">Q")
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


def encode_direct(hub_id: bytes, to: int, sender: int, body: bytes) -> bytes:
    """A ``DIRECT`` relay message: ``body`` for ``to``, from ``sender``."""
    return _HEADER.pack(DIRECT, hub_id, to) + _SENDER.pack(sender) + body


def split_direct(payload: bytes) -> tuple[int, bytes]:
    """A ``DIRECT`` message's payload as (sender, body)."""
    if len(payload) < _SENDER.size:
        raise ValueError("direct relay message too short")
    return _SENDER.unpack_from(payload)[0], payload[_SENDER.size :]
