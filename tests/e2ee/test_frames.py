"""The collab-e2ee.v1 frames: exact layouts, and clear errors for anything malformed."""

from __future__ import annotations

import pytest

from collab.protocol import relay_frames as f

ENV = b"CLB" + bytes(100)


@pytest.mark.parametrize(
    ("encoded", "decoded"),
    [
        (f.challenge(b"c" * 32, 7), f.Challenge(b"c" * 32, 7)),
        (f.ready(1, 2**64 - 1), f.Ready(1, 2**64 - 1)),
        (f.entry(5, ENV), f.Entry(5, ENV)),
        (f.ack(3, 9), f.Ack(3, 9)),
        (f.nack(3, 2, "read-only connections cannot write"), f.Nack(3, 2, "read-only connections cannot write")),
        (f.awareness_relay(11, ENV), f.AwarenessRelay(11, ENV)),
        (f.synced(42), f.Synced(42)),
        (f.left(11), f.Left(11)),
        (f.hello(1, 10, b"s" * 64), f.Hello(1, 10, b"s" * 64)),
        (f.hello(0, 0), f.Hello(0, 0, None)),
        (f.hello(0, 3, b"r" * 64), f.Hello(0, 3, b"r" * 64)),  # a reader signs in rooms with a reader key
        (f.publish(1, ENV), f.Publish(1, ENV)),
        (f.snapshot(2, ENV), f.Snapshot(2, ENV)),
        (f.awareness(ENV), f.Awareness(ENV)),
        (f.direct(2**64 - 1, ENV), f.Direct(2**64 - 1, ENV)),
        (f.direct_relay(11, ENV), f.DirectRelay(11, ENV)),
    ],
)
def test_round_trip(encoded: bytes, decoded: f.Frame) -> None:
    assert f.decode(encoded) == decoded


def test_layouts_are_big_endian_and_fixed() -> None:
    assert f.challenge(bytes(32), 1) == b"\x01" + bytes(32) + b"\x00" * 7 + b"\x01"
    assert f.ready(1, 258) == b"\x02\x01" + b"\x00" * 6 + b"\x01\x02"
    assert f.ack(1, 2) == b"\x04" + (1).to_bytes(8, "big") + (2).to_bytes(8, "big")
    assert f.nack(1, 4, "x") == b"\x05" + (1).to_bytes(8, "big") + b"\x00\x04x"
    assert f.hello(0, 5) == b"\x11\x00" + (5).to_bytes(8, "big")
    assert f.awareness(ENV) == b"\x14" + ENV
    assert f.direct(258, ENV) == b"\x17" + (258).to_bytes(8, "big") + ENV
    assert f.direct_relay(258, ENV) == b"\x0a" + (258).to_bytes(8, "big") + ENV


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (b"", "empty frame"),
        (b"\x99", "unknown frame type 0x99"),
        (b"\x01" + bytes(10), "CHALLENGE frame must carry 40 bytes"),
        (b"\x02\x05" + bytes(8), "unknown role 5"),
        (b"\x03" + bytes(8), "truncated ENTRY"),
        (b"\x04" + bytes(15), "ACK frame must carry 16 bytes"),
        (b"\x05" + bytes(10) + b"\xff", "not UTF-8"),
        (b"\x07" + bytes(9), "SYNCED frame must carry 8 bytes"),
        (b"\x11\x01" + bytes(8) + bytes(10), "needs a 64-byte signature"),
        (b"\x11\x00" + bytes(8) + bytes(10), "carries no signature or a 64-byte one"),
        (b"\x11\x02" + bytes(8), "unknown role 2"),
        (b"\x12" + bytes(8), "truncated PUBLISH"),
        (b"\x14", "carries no envelope"),
        (b"\x17" + bytes(8), "truncated DIRECT"),
        (b"\x0a" + bytes(7), "truncated DIRECT_RELAY"),
    ],
)
def test_malformed_frames_raise_protocol_error(frame: bytes, message: str) -> None:
    with pytest.raises(f.ProtocolError, match=message):
        f.decode(frame)


def test_encoders_refuse_what_cannot_be_framed() -> None:
    with pytest.raises(ValueError):
        f.hello(1, 0)  # a writer without a signature
    with pytest.raises(ValueError):
        f.hello(0, 0, b"s" * 63)
    with pytest.raises(ValueError):
        f.ack(-1, 0)
    with pytest.raises(ValueError):
        f.challenge(b"short", 0)
    with pytest.raises(ValueError):
        f.direct(2**64, ENV)
