"""Frames of the encrypted relay protocol (websocket subprotocol ``collab-e2ee.v1``).

Pure encode/decode, no I/O. Every frame is binary: one type byte, then fixed fields; integers are
big-endian u64 unless stated. Envelopes travel as opaque bytes here: checking them is the job of
``collab.protocol.envelope``. See docs/protocol.md for the conversation these frames make up.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import Union

SUBPROTOCOL = "collab-e2ee.v1"
CHALLENGE_SIZE = 32
SIGNATURE_SIZE = 64
MAX_U64 = 2**64 - 1

ROLE_READER = 0
ROLE_WRITER = 1


class ProtocolError(ValueError):
    """A frame that does not follow the encrypted relay protocol."""


class FrameType(IntEnum):
    # hub -> client
    CHALLENGE = 0x01
    READY = 0x02
    ENTRY = 0x03
    ACK = 0x04
    NACK = 0x05
    AWARENESS_RELAY = 0x06
    SYNCED = 0x07
    LEFT = 0x08
    ROTATED = 0x09  # the room's latest rotation envelope (collab.protocol.rotation)
    DIRECT_RELAY = 0x0A  # an addressed ephemeral envelope, from connection conn_id
    # client -> hub
    HELLO = 0x11
    PUBLISH = 0x12
    SNAPSHOT = 0x13
    AWARENESS = 0x14
    SNAPSHOT_PART = 0x15
    ROTATE = 0x16  # a writer moves the room to its next key epoch
    DIRECT = 0x17  # an addressed ephemeral envelope, for connection conn_id (docs/protocol.md)


class NackCode(IntEnum):
    STORE_UNAVAILABLE = 1  # retry later: nothing was stored, the client keeps it queued
    FORBIDDEN = 2  # a reader tried to write
    INVALID_ENVELOPE = 3  # size, type, room, epoch or signature
    SNAPSHOT_CONFLICT = 4  # the head moved past the snapshot's ref


_U64 = struct.Struct(">Q")
_U8_U64 = struct.Struct(">BQ")
_U64_U64 = struct.Struct(">QQ")
_U64_U16 = struct.Struct(">QH")


# --- frames ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Challenge:
    challenge: bytes
    head: int


@dataclass(frozen=True, slots=True)
class Ready:
    role: int
    conn_id: int


@dataclass(frozen=True, slots=True)
class Entry:
    seq: int
    envelope: bytes


@dataclass(frozen=True, slots=True)
class Ack:
    client_ref: int
    seq: int


@dataclass(frozen=True, slots=True)
class Nack:
    client_ref: int
    code: int
    reason: str


@dataclass(frozen=True, slots=True)
class AwarenessRelay:
    conn_id: int
    envelope: bytes


@dataclass(frozen=True, slots=True)
class DirectRelay:
    conn_id: int  # the sender's connection
    envelope: bytes


@dataclass(frozen=True, slots=True)
class Synced:
    head: int


@dataclass(frozen=True, slots=True)
class Left:
    conn_id: int


@dataclass(frozen=True, slots=True)
class Rotated:
    envelope: bytes


@dataclass(frozen=True, slots=True)
class Rotate:
    client_ref: int
    envelope: bytes


@dataclass(frozen=True, slots=True)
class Hello:
    role: int
    since: int
    signature: bytes | None  # always a writer's; a reader's in rooms with a reader key (optional in the frame)


@dataclass(frozen=True, slots=True)
class Publish:
    client_ref: int
    envelope: bytes


@dataclass(frozen=True, slots=True)
class Snapshot:
    client_ref: int
    envelope: bytes


@dataclass(frozen=True, slots=True)
class Awareness:
    envelope: bytes


@dataclass(frozen=True, slots=True)
class Direct:
    conn_id: int  # the connection it is for
    envelope: bytes


@dataclass(frozen=True, slots=True)
class SnapshotPart:
    """One consecutive piece of a snapshot envelope of ``total`` bytes (docs/protocol.md)."""

    client_ref: int
    total: int
    chunk: bytes


HubFrame = Union[Challenge, Ready, Entry, Ack, Nack, AwarenessRelay, Synced, Left, Rotated, DirectRelay]
ClientFrame = Union[Hello, Publish, Snapshot, Awareness, SnapshotPart, Rotate, Direct]
Frame = Union[HubFrame, ClientFrame]


# --- encoding -------------------------------------------------------------------------------


def _u64(name: str, value: int) -> int:
    if not 0 <= value <= MAX_U64:
        raise ValueError(f"{name} must fit in a u64, got {value}")
    return value


def _role(role: int) -> int:
    if role not in (ROLE_READER, ROLE_WRITER):
        raise ValueError(f"role must be 0 (reader) or 1 (writer), got {role}")
    return role


def challenge(nonce: bytes, head: int) -> bytes:
    if len(nonce) != CHALLENGE_SIZE:
        raise ValueError(f"challenge must be {CHALLENGE_SIZE} bytes, got {len(nonce)}")
    return bytes([FrameType.CHALLENGE]) + nonce + _U64.pack(_u64("head", head))


def ready(role: int, conn_id: int) -> bytes:
    return bytes([FrameType.READY]) + _U8_U64.pack(_role(role), _u64("conn_id", conn_id))


def entry(seq: int, envelope: bytes) -> bytes:
    return bytes([FrameType.ENTRY]) + _U64.pack(_u64("seq", seq)) + envelope


def ack(client_ref: int, seq: int) -> bytes:
    return bytes([FrameType.ACK]) + _U64_U64.pack(_u64("client_ref", client_ref), _u64("seq", seq))


def nack(client_ref: int, code: int, reason: str) -> bytes:
    if not 0 <= code <= 0xFFFF:
        raise ValueError(f"NACK code must fit in a u16, got {code}")
    return bytes([FrameType.NACK]) + _U64_U16.pack(_u64("client_ref", client_ref), code) + reason.encode()


def awareness_relay(conn_id: int, envelope: bytes) -> bytes:
    return bytes([FrameType.AWARENESS_RELAY]) + _U64.pack(_u64("conn_id", conn_id)) + envelope


def direct_relay(conn_id: int, envelope: bytes) -> bytes:
    return bytes([FrameType.DIRECT_RELAY]) + _U64.pack(_u64("conn_id", conn_id)) + envelope


def direct(conn_id: int, envelope: bytes) -> bytes:
    return bytes([FrameType.DIRECT]) + _U64.pack(_u64("conn_id", conn_id)) + envelope


def synced(head: int) -> bytes:
    return bytes([FrameType.SYNCED]) + _U64.pack(_u64("head", head))


def left(conn_id: int) -> bytes:
    return bytes([FrameType.LEFT]) + _U64.pack(_u64("conn_id", conn_id))


def rotated(envelope: bytes) -> bytes:
    return bytes([FrameType.ROTATED]) + envelope


def rotate(client_ref: int, envelope: bytes) -> bytes:
    return bytes([FrameType.ROTATE]) + _U64.pack(_u64("client_ref", client_ref)) + envelope


def hello(role: int, since: int, signature: bytes | None = None) -> bytes:
    _role(role)
    if role == ROLE_WRITER and signature is None:
        raise ValueError("a writer's HELLO carries the challenge signature")
    if signature is not None and len(signature) != SIGNATURE_SIZE:
        raise ValueError(f"signature must be {SIGNATURE_SIZE} bytes, got {len(signature)}")
    return bytes([FrameType.HELLO]) + _U8_U64.pack(role, _u64("since", since)) + (signature or b"")


def publish(client_ref: int, envelope: bytes) -> bytes:
    return bytes([FrameType.PUBLISH]) + _U64.pack(_u64("client_ref", client_ref)) + envelope


def snapshot(client_ref: int, envelope: bytes) -> bytes:
    return bytes([FrameType.SNAPSHOT]) + _U64.pack(_u64("client_ref", client_ref)) + envelope


def awareness(envelope: bytes) -> bytes:
    return bytes([FrameType.AWARENESS]) + envelope


SNAPSHOT_PART_OVERHEAD = 1 + _U64_U64.size  # type, client_ref, total


def snapshot_part(client_ref: int, total: int, chunk: bytes) -> bytes:
    if not chunk:
        raise ValueError("a SNAPSHOT_PART carries at least one byte")
    return bytes([FrameType.SNAPSHOT_PART]) + _U64_U64.pack(_u64("client_ref", client_ref), _u64("total", total)) + chunk


def snapshot_parts(client_ref: int, envelope: bytes, frame_limit: int) -> list[bytes]:
    """A snapshot envelope as SNAPSHOT_PART frames of at most ``frame_limit`` bytes each."""
    size = frame_limit - SNAPSHOT_PART_OVERHEAD
    if size < 1:
        raise ValueError(f"a frame limit of {frame_limit} bytes leaves no room for a part")
    total = len(envelope)
    return [snapshot_part(client_ref, total, envelope[i : i + size]) for i in range(0, total, size)]


# --- decoding -------------------------------------------------------------------------------


def _exact(name: str, body: bytes, size: int) -> None:
    if len(body) != size:
        raise ProtocolError(f"{name} frame must carry {size} bytes after its type, got {len(body)}")


def _at_least(name: str, body: bytes, size: int) -> None:
    if len(body) < size:
        raise ProtocolError(f"truncated {name} frame: {len(body)} bytes after its type, need at least {size}")


def _nonempty_envelope(name: str, envelope: bytes) -> bytes:
    if not envelope:
        raise ProtocolError(f"{name} frame carries no envelope")
    return envelope


def decode(frame: bytes | bytearray | memoryview) -> Frame:
    """Decode any frame of either direction; raises ProtocolError for anything malformed."""
    data = bytes(frame)
    if not data:
        raise ProtocolError("empty frame")
    try:
        kind = FrameType(data[0])
    except ValueError:
        raise ProtocolError(f"unknown frame type 0x{data[0]:02x}") from None
    body = data[1:]
    if kind is FrameType.CHALLENGE:
        _exact("CHALLENGE", body, CHALLENGE_SIZE + 8)
        return Challenge(body[:CHALLENGE_SIZE], _U64.unpack_from(body, CHALLENGE_SIZE)[0])
    if kind is FrameType.READY:
        _exact("READY", body, _U8_U64.size)
        role, conn_id = _U8_U64.unpack(body)
        if role not in (ROLE_READER, ROLE_WRITER):
            raise ProtocolError(f"READY names unknown role {role}")
        return Ready(role, conn_id)
    if kind is FrameType.ENTRY:
        _at_least("ENTRY", body, 9)
        return Entry(_U64.unpack_from(body)[0], body[8:])
    if kind is FrameType.ACK:
        _exact("ACK", body, _U64_U64.size)
        return Ack(*_U64_U64.unpack(body))
    if kind is FrameType.NACK:
        _at_least("NACK", body, _U64_U16.size)
        client_ref, code = _U64_U16.unpack_from(body)
        try:
            reason = body[_U64_U16.size :].decode()
        except UnicodeDecodeError:
            raise ProtocolError("NACK reason is not UTF-8") from None
        return Nack(client_ref, code, reason)
    if kind is FrameType.AWARENESS_RELAY:
        _at_least("AWARENESS", body, 9)
        return AwarenessRelay(_U64.unpack_from(body)[0], body[8:])
    if kind is FrameType.DIRECT_RELAY:
        _at_least("DIRECT_RELAY", body, 9)
        return DirectRelay(_U64.unpack_from(body)[0], body[8:])
    if kind is FrameType.DIRECT:
        _at_least("DIRECT", body, 9)
        return Direct(_U64.unpack_from(body)[0], body[8:])
    if kind is FrameType.SYNCED:
        _exact("SYNCED", body, 8)
        return Synced(_U64.unpack(body)[0])
    if kind is FrameType.LEFT:
        _exact("LEFT", body, 8)
        return Left(_U64.unpack(body)[0])
    if kind is FrameType.ROTATED:
        return Rotated(_nonempty_envelope("ROTATED", body))
    if kind is FrameType.ROTATE:
        _at_least("ROTATE", body, 9)
        return Rotate(_U64.unpack_from(body)[0], body[8:])
    if kind is FrameType.HELLO:
        _at_least("HELLO", body, _U8_U64.size)
        role, since = _U8_U64.unpack_from(body)
        rest = body[_U8_U64.size :]
        if role == ROLE_WRITER:
            if len(rest) != SIGNATURE_SIZE:
                raise ProtocolError(f"a writer's HELLO needs a {SIGNATURE_SIZE}-byte signature, got {len(rest)} bytes")
            return Hello(role, since, rest)
        if role == ROLE_READER:
            # Rooms created before reader keys admit a reader without one, so it stays optional here.
            if rest and len(rest) != SIGNATURE_SIZE:
                raise ProtocolError(f"a reader's HELLO carries no signature or a {SIGNATURE_SIZE}-byte one, got {len(rest)} extra bytes")
            return Hello(role, since, rest or None)
        raise ProtocolError(f"HELLO asks for unknown role {role}")
    if kind is FrameType.PUBLISH:
        _at_least("PUBLISH", body, 9)
        return Publish(_U64.unpack_from(body)[0], body[8:])
    if kind is FrameType.SNAPSHOT:
        _at_least("SNAPSHOT", body, 9)
        return Snapshot(_U64.unpack_from(body)[0], body[8:])
    if kind is FrameType.SNAPSHOT_PART:
        _at_least("SNAPSHOT_PART", body, _U64_U64.size + 1)
        client_ref, total = _U64_U64.unpack_from(body)
        return SnapshotPart(client_ref, total, body[_U64_U64.size :])
    return Awareness(_nonempty_envelope("AWARENESS", body))
