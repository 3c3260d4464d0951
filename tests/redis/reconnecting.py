"""A pycrdt client that survives its hub: it keeps one Doc and, when the connection drops, connects
again with a fresh stock pycrdt Provider (to the next URL in its list). The y-websocket handshake on
each connect sends the hub whatever the Doc gained offline and fetches what it missed."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from typing import AsyncIterator

import pycrdt

from tests.support.yclient import pycrdt_session
from tests.support.waiting import eventually


class ReconnectingClient:
    def __init__(self, urls: list[str]) -> None:
        self.urls = urls
        self.doc = pycrdt.Doc()
        self.text = self.doc.get("code", type=pycrdt.Text)
        self.connected = asyncio.Event()
        self.connects = 0
        self.url = ""
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        for url in itertools.cycle(self.urls):
            try:
                async with pycrdt_session(url, self.doc) as session:
                    self.url = url
                    self.connects += 1
                    self.connected.set()
                    await session.ws.wait_closed()
            except asyncio.CancelledError:
                raise
            except Exception:
                pass  # refused or dropped: try the next hub
            self.connected.clear()
            await asyncio.sleep(0.1)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator["ReconnectingClient"]:
        self._task = asyncio.create_task(self._run())
        try:
            await asyncio.wait_for(self.connected.wait(), 15)
            yield self
        finally:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task


def marks(text: str) -> set[str]:
    """Each client types marks like <3:17>; the set of them says what a text contains."""
    return {"<" + part for part in text.split("<")[1:]}


class Typists:
    """Clients that each type a numbered mark every few milliseconds until stopped."""

    def __init__(self, clients: list[ReconnectingClient]) -> None:
        self.clients = clients
        self.typed: list[set[str]] = [set() for _ in clients]
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def _type(self, i: int) -> None:
        client = self.clients[i]
        for n in itertools.count():
            if self._stop.is_set():
                return
            mark = f"<{i}:{n}>"
            client.text += mark  # typed whether or not connected: offline edits must arrive too
            self.typed[i].add(mark)
            await asyncio.sleep(0.01)

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._type(i)) for i in range(len(self.clients))]

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    @property
    def all_typed(self) -> set[str]:
        return set().union(*self.typed)

    def received(self) -> set[str]:
        return set().union(*(marks(str(c.text)) for c in self.clients))

    async def converge(self, timeout: float = 30) -> str:
        expected = self.all_typed
        await eventually(lambda: all(marks(str(c.text)) == expected for c in self.clients), timeout=timeout)
        final = str(self.clients[0].text)
        assert all(str(c.text) == final for c in self.clients)
        return final
