#!/usr/bin/env python3
"""CPU per delivery of framing a fan-out update per receiver, against writing pre-encoded bytes.

What the hub's sender pays per receiver today (uvicorn's websockets-sansio ``send`` for a binary
message: an event wait, the dispatch, websockets' framing, the join) against one write of a frame
encoded once per fan-out (server-to-client frames are unmasked, so the bytes are the same for
every receiver). The transport is a list, so neither figure includes the ``send()`` syscall. Also
checks that the header built here gives websockets' bytes exactly.

    .venv/bin/python bench/frame_cost.py
"""

from __future__ import annotations

import asyncio
import time

from websockets.protocol import State
from websockets.server import ServerProtocol

from collab.protocol import yjs

N = 200_000
# one of workload a's updates: a 16-byte string set on key "w1:12345" of the map "m"
PAYLOAD = yjs.sync_update(b"\x01\x01\x9b\xa3\xd5\x8e\x0b\x00(\x01\x01m\x0ew1:12345\x01w\x100123456789abcdef\x00")


def frame(payload: bytes) -> bytes:
    """An unmasked, final, binary websocket frame."""
    n = len(payload)
    if n < 126:
        return bytes([0x82, n]) + payload
    if n < 65536:
        return bytes([0x82, 126]) + n.to_bytes(2, "big") + payload
    return bytes([0x82, 127]) + n.to_bytes(8, "big") + payload


async def main() -> None:
    protocol = ServerProtocol()
    protocol.state = State.OPEN
    written: list[bytes] = []
    writable = asyncio.Event()
    writable.set()

    async def send(message: dict[str, object]) -> None:  # the shape of uvicorn's send for bytes
        await writable.wait()
        if message["type"] == "websocket.send":
            data = message["bytes"]
            assert isinstance(data, bytes)
            protocol.send_binary(data)
            written.append(b"".join(protocol.data_to_send()))

    started = time.process_time()
    for _ in range(N):
        await send({"type": "websocket.send", "bytes": PAYLOAD})
    per_receiver = (time.process_time() - started) / N
    assert written[-1] == frame(PAYLOAD), "the header differs from websockets' own"
    written.clear()
    started = time.process_time()
    wire = frame(PAYLOAD)
    for _ in range(N):
        written.append(wire)
    once = (time.process_time() - started) / N
    print(f"framing per receiver {per_receiver * 1e6:.2f} us/delivery, pre-encoded {once * 1e6:.2f} us/delivery")


if __name__ == "__main__":
    asyncio.run(main())
