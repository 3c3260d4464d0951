#!/usr/bin/env python3
"""CPU per incoming frame of the hub's protocol: collab.hub.frame_scan's fast path against websockets.

Feeds one small masked binary frame per ``data_received`` (what a client sending one update at a
time looks like to the hub) to collab.hub.read_ahead's protocol with a frame sink that does
nothing, and to the same protocol with uvicorn's own ``data_received`` (every byte through
websockets' parser). The transport is a stub and the sink empty, so the figures are the framing
alone: what the hub's receive loop does with a frame (collab.hub.receive) comes on top of both.

    .venv/bin/python bench/frame_scan_cost.py
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import ServerState

from collab.hub.read_ahead import ReadAheadWebsocket
from collab.protocol import yjs

N = 200_000
# a sync update message the size of workload b's small ones (the sink never decodes it)
PAYLOAD = yjs.sync_update(b"\x01\x01\x9b\xa3\xd5\x8e\x0b\x00\x84\x01\x01\x04code\x01x\x00")


class Stub(asyncio.Transport):
    def write(self, data: Any) -> None:
        pass

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


class Uvicorn(ReadAheadWebsocket):
    data_received = WebSocketsSansIOProtocol.data_received


class Sink:
    def frame(self, data: bytes) -> None:
        pass


async def app(scope: Any, receive: Any, send: Any) -> None:
    await receive()
    await send({"type": "websocket.accept"})
    await asyncio.Event().wait()


async def per_frame(cls: type[ReadAheadWebsocket], wire: bytes) -> float:
    config = Config(app=app, ws_per_message_deflate=False, ws_ping_interval=None, lifespan="off", log_level="critical")
    config.load()
    protocol = cls(config=config, server_state=ServerState(), app_state={})
    protocol.connection_made(Stub())
    key = base64.b64encode(os.urandom(16)).decode()
    protocol.data_received(f"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
    while not protocol.handshake_complete:
        await asyncio.sleep(0)
    protocol.frame_sink = Sink()
    received = protocol.data_received
    start = time.process_time()
    for _ in range(N):
        received(wire)
    elapsed = time.process_time() - start
    for task in list(protocol.tasks):
        task.cancel()
    return elapsed / N * 1e6


async def main() -> None:
    mask = os.urandom(4)
    wire = bytes([0x82, 0x80 | len(PAYLOAD)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(PAYLOAD))
    for _ in range(3):
        old = await per_frame(Uvicorn, wire)
        new = await per_frame(ReadAheadWebsocket, wire)
        print(f"{len(wire)}-byte frame: websockets' parser {old:.2f} us, frame_scan {new:.2f} us per frame")


if __name__ == "__main__":
    asyncio.run(main())
