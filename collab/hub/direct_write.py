"""Frames written straight to a websocket's transport: encoded once, the same bytes for every receiver.

A server's websocket frames are never masked (RFC 6455, 5.1), so a binary message on the wire is a
fixed header and the payload, byte for byte the same for every receiver of a fan-out. uvicorn's
ASGI ``send`` frames it again for each receiver (websockets' ``send_binary``, ``Frame.serialize``,
a join) behind an event wait: 2.5-3.8 us per delivery against 0.04 us for writing bytes encoded
once (bench/frame_cost.py). So where a connection is served by uvicorn's websockets-sansio protocol
with no extension negotiated (``collab serve`` turns permessage-deflate off: a compressed frame
would differ per receiver), the hub writes the encoded frame to that protocol's transport itself,
after the checks uvicorn's ``send`` makes: the handshake done, no close frame sent or received,
the transport not closing, and writing not paused (the transport's high-water mark, via
``pause_writing``). When any check fails the caller queues the frame and sends it through the ASGI
``send`` as before, which waits for the buffer to drain or reports the closed connection.

Nothing in websockets' protocol object tracks data frames it did not write itself (it keeps only
its state and whether a fragmented message is in progress, which the hub never starts), so pings,
pongs and the closing handshake it writes stay coherent with these writes.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State


def binary_frame(payload: bytes) -> bytes:
    """``payload`` as one final, unmasked binary websocket frame (what websockets writes for it)."""
    n = len(payload)
    if n < 126:
        return bytes((0x82, n)) + payload
    if n < 65536:
        return bytes((0x82, 126)) + n.to_bytes(2, "big") + payload
    return bytes((0x82, 127)) + n.to_bytes(8, "big") + payload


def direct_protocol(send: Any) -> WebSocketsSansIOProtocol | None:
    """The uvicorn protocol behind an ASGI ``send``, if frames may be written to its transport."""
    protocol = getattr(send, "__self__", None)
    if not isinstance(protocol, WebSocketsSansIOProtocol) or protocol.handshake_complete is not True:
        return None
    if protocol.conn.extensions or protocol.transport is None:
        return None
    return protocol


def write_direct(protocol: WebSocketsSansIOProtocol, wire: bytes) -> bool:
    """Write an encoded frame if the connection is open and its buffer below the high-water mark;
    False (nothing written) otherwise."""
    if protocol.close_sent or protocol.disconnected or not protocol.writable.is_set():
        return False
    if protocol.conn.state is not State.OPEN:
        return False
    transport = protocol.transport
    if transport.is_closing():
        return False
    transport.write(wire)
    return True
