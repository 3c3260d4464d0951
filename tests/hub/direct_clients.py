"""Raw y-websocket clients for the direct message tests: each records the direct messages the hub
sends it, with their arrival time."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from typing import AsyncIterator

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from collab.protocol import yjs
from tests.hub.presence_clients import presence_update


def reply(text: str, **more: object) -> bytes:
    return json.dumps({"inline_reply": {"id": "r1", "text": text, "done": False, **more}}).encode()


@dataclass
class Peer:
    """A raw connection that records every direct message the hub sends it: (from, payload, when)."""

    ws: ClientConnection
    got: list[tuple[int, bytes, float]] = field(default_factory=list)
    closed: asyncio.Future[int | None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())

    async def announce(self, *client_ids: int) -> None:
        for cid in client_ids:
            await self.ws.send(presence_update([(cid, 1, json.dumps({"user": {"name": f"user {cid}"}}))]))

    async def send(self, peer: int, payload: bytes) -> None:
        await self.ws.send(yjs.direct_message(peer, payload))

    def payloads(self) -> list[bytes]:
        return [payload for _, payload, _ in self.got]

    async def _read(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for data in self.ws:
                assert isinstance(data, bytes)
                msg = yjs.parse_message(data)
                if isinstance(msg, yjs.DirectMessage):
                    self.got.append((msg.peer, msg.payload, time.monotonic()))
        self.closed.set_result(self.ws.close_code)


@contextlib.asynccontextmanager
async def peer(url: str) -> AsyncIterator[Peer]:
    async with connect(url, max_size=None) as ws:
        p = Peer(ws)
        task = asyncio.create_task(p._read())
        try:
            yield p
        finally:
            task.cancel()
