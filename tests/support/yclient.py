"""A stock pycrdt client: pycrdt's own Provider over a `websockets` connection."""

from __future__ import annotations

import asyncio
import contextlib
from typing import AsyncIterator

import pycrdt
from websockets.asyncio.client import ClientConnection, connect


class WebsocketChannel:
    """pycrdt's Channel protocol over a websockets client connection."""

    def __init__(self, ws: ClientConnection, path: str) -> None:
        self._ws = ws
        self._path = path

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
        data = await self._ws.recv()
        assert isinstance(data, bytes)
        return data


@contextlib.asynccontextmanager
async def pycrdt_client(url: str, doc: pycrdt.Doc | None = None) -> AsyncIterator[pycrdt.Doc]:
    doc = doc or pycrdt.Doc()
    async with connect(url, max_size=None) as ws:
        provider = pycrdt.Provider(doc, WebsocketChannel(ws, url))
        async with provider:
            await asyncio.wait_for(provider.synced.wait(), 10)
            yield doc


async def wait_until(predicate, timeout: float = 10.0, interval: float = 0.02) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(interval)
