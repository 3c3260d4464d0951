"""A stock pycrdt client: pycrdt's own Provider over a `websockets` connection, with awareness."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any, AsyncIterator

import pycrdt
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from collab.protocol import yjs


class WebsocketChannel:
    """pycrdt's Channel protocol over a websockets client connection.

    pycrdt's Provider handles sync messages only, so awareness frames are applied here.
    """

    def __init__(self, ws: ClientConnection, path: str, awareness: pycrdt.Awareness) -> None:
        self._ws = ws
        self._path = path
        self._awareness = awareness

    @property
    def path(self) -> str:
        return self._path

    def __aiter__(self) -> "WebsocketChannel":
        return self

    async def __anext__(self) -> bytes:
        try:
            return await self.recv()
        except Exception as exc:
            raise StopAsyncIteration from exc

    async def send(self, message: bytes) -> None:
        await self._ws.send(message)

    async def recv(self) -> bytes:
        while True:
            data = await self._ws.recv()
            assert isinstance(data, bytes)
            msg = yjs.parse_message(data)
            if isinstance(msg, yjs.AwarenessMessage):
                self._awareness.apply_awareness_update(msg.payload, "remote")
                continue
            return data


@dataclass
class PyClient:
    doc: pycrdt.Doc[Any]
    awareness: pycrdt.Awareness
    ws: ClientConnection

    async def set_presence(self, state: dict[str, Any]) -> None:
        self.awareness.set_local_state(state)
        update = self.awareness.encode_awareness_update([self.doc.client_id])
        await self.ws.send(yjs.awareness_message(update))


@contextlib.asynccontextmanager
async def pycrdt_session(
    url: str, doc: pycrdt.Doc[Any] | None = None, headers: dict[str, str] | None = None
) -> AsyncIterator[PyClient]:
    doc = doc or pycrdt.Doc()
    awareness = pycrdt.Awareness(doc)
    async with connect(url, max_size=None, additional_headers=headers) as ws:
        provider = pycrdt.Provider(doc, WebsocketChannel(ws, url, awareness))
        try:
            async with provider:
                await asyncio.wait_for(provider.synced.wait(), 10)
                yield PyClient(doc, awareness, ws)
        except BaseExceptionGroup as group:
            # The hub went away under us (tests kill it on purpose): leaving is then not an error.
            if not group.subgroup(ConnectionClosed) or ws.state is not State.CLOSED:
                raise


@contextlib.asynccontextmanager
async def pycrdt_client(
    url: str, doc: pycrdt.Doc[Any] | None = None, headers: dict[str, str] | None = None
) -> AsyncIterator[pycrdt.Doc[Any]]:
    """``headers``: e.g. X-Forwarded-For, which the hub believes from 127.0.0.1 (a local proxy)."""
    async with pycrdt_session(url, doc, headers) as client:
        yield client.doc

