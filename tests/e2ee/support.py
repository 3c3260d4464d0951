"""Shared pieces of the E2EE tests: rooms on a real hub, providers, raw protocol clients."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any, AsyncIterator

from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from collab.client.encrypted import EncryptedProvider
from collab.commands.new import create_encrypted_room
from collab.crypto import sign_challenge
from collab.crypto.auth import sign_reader_challenge
from collab.crypto.keys import RoomKeys
from collab.crypto.links import websocket_url
from collab.protocol import relay_frames as frames
from tests.support.hub_process import HubProcess

__all__ = ["RawClient", "data_bytes", "joined", "new_room", "raw_client", "room_url"]


def new_room(hub: HubProcess) -> RoomKeys:
    return create_encrypted_room(hub.url)


def room_url(hub: HubProcess, keys: RoomKeys) -> str:
    return websocket_url(hub.url, keys.room_id)


@contextlib.asynccontextmanager
async def joined(hub: HubProcess, keys: RoomKeys, **options: Any) -> AsyncIterator[EncryptedProvider]:
    provider = EncryptedProvider(keys, room_url(hub, keys), **options)
    await asyncio.wait_for(provider.start(), 20)
    try:
        yield provider
    finally:
        await provider.stop()


class RawClient:
    """Speaks collab-e2ee.v1 frame by frame, as a hostile or buggy client would."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.challenge: frames.Challenge | None = None

    async def recv(self, timeout: float = 10.0) -> frames.Frame:
        data = await asyncio.wait_for(self.ws.recv(), timeout)
        assert isinstance(data, bytes)
        return frames.decode(data)

    async def recv_until(self, kind: type, timeout: float = 10.0) -> list[frames.Frame]:
        """Every frame up to and including the first of ``kind``."""
        got: list[frames.Frame] = []
        while True:
            frame = await self.recv(timeout)
            got.append(frame)
            if isinstance(frame, kind):
                return got

    async def hello(self, keys: RoomKeys | None, since: int = 0) -> list[frames.Frame]:
        """Answer the challenge (as a writer when ``keys`` can write, else as a reader signing with
        the reader key; unsigned for None, as a stranger would) and read history to SYNCED."""
        assert self.challenge is not None
        if keys is not None and keys.can_write:
            await self.ws.send(frames.hello(frames.ROLE_WRITER, since, sign_challenge(keys, self.challenge.challenge)))
        elif keys is not None:
            signature = sign_reader_challenge(keys, self.challenge.challenge)
            await self.ws.send(frames.hello(frames.ROLE_READER, since, signature))
        else:
            await self.ws.send(frames.hello(frames.ROLE_READER, since))
        return await self.recv_until(frames.Synced)


@contextlib.asynccontextmanager
async def raw_client(url: str) -> AsyncIterator[RawClient]:
    async with connect(url, subprotocols=[Subprotocol(frames.SUBPROTOCOL)], max_size=None) as ws:
        client = RawClient(ws)
        first = await client.recv()
        assert isinstance(first, frames.Challenge)
        client.challenge = first
        yield client


def data_bytes(data_dir: Path) -> bytes:
    """Every byte the hub keeps on disk: the SQLite file, its WAL and shared memory, anything else."""
    return b"".join(p.read_bytes() for p in sorted(data_dir.rglob("*")) if p.is_file())
