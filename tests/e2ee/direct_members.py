"""Raw collab-e2ee.v1 members for the direct message tests: each records the DIRECT_RELAY frames
(with their arrival time) and NACKs the hub sends it after SYNCED."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from typing import AsyncIterator

from websockets.exceptions import ConnectionClosed

from collab.crypto.keys import RoomKeys
from collab.protocol import relay_frames as frames
from collab.protocol.envelope import new_author_id, seal_awareness
from tests.e2ee.support import RawClient, raw_client, room_url
from tests.support.hub_process import HubProcess


@dataclass
class Member:
    """A joined raw client that records what the hub sends it after SYNCED."""

    client: RawClient
    conn_id: int
    keys: RoomKeys
    session: bytes = field(default_factory=new_author_id)
    counter: int = 0
    direct: list[tuple[int, bytes, float]] = field(default_factory=list)  # (from conn id, envelope, when)
    nacks: list[frames.Nack] = field(default_factory=list)

    def seal(self, text: str, pad: int = 0) -> bytes:
        self.counter += 1
        body = json.dumps({"inline_reply": {"id": "r1", "text": text, "done": False}, "pad": "x" * pad})
        return seal_awareness(self.keys, self.session, self.counter, body.encode())

    async def send(self, to: int, envelope: bytes) -> None:
        await self.client.ws.send(frames.direct(to, envelope))

    def envelopes(self) -> list[bytes]:
        return [env for _, env, _ in self.direct]

    async def _read(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for data in self.client.ws:
                assert isinstance(data, bytes)
                frame = frames.decode(data)
                if isinstance(frame, frames.DirectRelay):
                    self.direct.append((frame.conn_id, frame.envelope, time.monotonic()))
                elif isinstance(frame, frames.Nack):
                    self.nacks.append(frame)


@contextlib.asynccontextmanager
async def member(hub: HubProcess, keys: RoomKeys, as_keys: RoomKeys | None = None) -> AsyncIterator[Member]:
    async with raw_client(room_url(hub, keys)) as client:
        ready = [f for f in await client.hello(as_keys or keys) if isinstance(f, frames.Ready)]
        m = Member(client, ready[0].conn_id, (as_keys or keys).read_only())
        task = asyncio.create_task(m._read())
        try:
            yield m
        finally:
            task.cancel()
