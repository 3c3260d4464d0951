"""A hub built with ``create_app`` and run in the test's event loop, and y-websocket clients for it.

The store is the real SQLite store in the test's tmp dir and the broker a MemoryBroker, so a test
runs in milliseconds with nothing but the hub's own code between its clients.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any, AsyncIterator

import pycrdt
from starlette.applications import Starlette

from collab.broker.memory import MemoryBroker
from collab.config import Settings
from collab.hub.app import create_app
from collab.protocol import yjs
from collab.store.base import RoomInfo, RoomLog, StoreUnavailable
from collab.store.sqlite import SQLiteStore
from tests.support.asgi import MemoryWebsocket, running


@contextlib.asynccontextmanager
async def hub_app(
    tmp_path: Path, *, store: Any = None, broker: Any = None, **settings: Any
) -> AsyncIterator[Starlette]:
    """A started hub app; ``settings`` override collab.config.Settings fields (validated)."""
    config = Settings(data=tmp_path / "data", **settings).validate()
    app = create_app(config, store=store, broker=broker or MemoryBroker())
    async with running(app):
        yield app


def sqlite_store(tmp_path: Path) -> SQLiteStore:
    return SQLiteStore(tmp_path / "data" / "collab.sqlite3", synchronous="NORMAL")


class GatedStore:
    """A real store whose ``load`` and ``compact`` can be held at their start, to put a join into
    the middle of a room's load or unload deterministically (no timing guesses), and whose loads
    can be made to fail as when the store is away."""

    def __init__(self, inner: Any) -> None:
        object.__setattr__(self, "_inner", inner)
        object.__setattr__(self, "loads", 0)
        object.__setattr__(self, "infos", 0)  # room_info calls answered
        object.__setattr__(self, "fail_loads", False)
        object.__setattr__(self, "load_gate", asyncio.Event())
        object.__setattr__(self, "loading", asyncio.Event())
        object.__setattr__(self, "compact_gate", asyncio.Event())
        object.__setattr__(self, "compacting", asyncio.Event())
        object.__setattr__(self, "compacted", asyncio.Event())
        self.load_gate.set()
        self.compact_gate.set()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self.__dict__:
            object.__setattr__(self, name, value)
        else:
            setattr(self._inner, name, value)  # hooks the hub sets (commit observer) reach the real store

    async def room_info(self, name: str) -> RoomInfo | None:
        info: RoomInfo | None = await self._inner.room_info(name)
        # Counted as it returns: the caller runs on to its next await (a join: acquiring the room)
        # before any other task sees the count.
        self.infos += 1
        return info

    async def load(self, room: str, since: int = 0) -> RoomLog:
        self.loads += 1
        self.loading.set()
        await self.load_gate.wait()
        if self.fail_loads:
            raise StoreUnavailable("the store is away (test)")
        result: RoomLog = await self._inner.load(room, since)
        return result

    async def compact(self, room: str, snapshot: bytes, upto: int, *, expect_head: int | None = None) -> None:
        self.compacting.set()
        await self.compact_gate.wait()
        await self._inner.compact(room, snapshot, upto, expect_head=expect_head)
        # Set as the caller resumes: a waiter runs only once the caller reaches its next real wait
        # (for an unloading room with a memory broker: the end of the unload).
        self.compacted.set()


class YClient:
    """A y-websocket client over a MemoryWebsocket that applies what it reads to its own document."""

    def __init__(self, ws: MemoryWebsocket) -> None:
        self.ws = ws
        self.doc: pycrdt.Doc[Any] = pycrdt.Doc()
        self.text = self.doc.get("code", type=pycrdt.Text)
        self.frames: list[yjs.Message] = []  # every frame read, parsed, in order
        self._updates: list[bytes] = []
        self._sub = self.doc.observe(lambda event: self._updates.append(event.update))

    async def type(self, chars: str) -> bytes:
        """Append ``chars`` to the shared text and send the update; returns it."""
        self._updates.clear()
        self.text += chars
        (update,) = self._updates
        await self.ws.send(yjs.sync_update(update))
        return update

    async def set_presence(self, clock: int, state_json: str) -> None:
        entry = yjs.AwarenessEntry(self.doc.client_id, clock, state_json)
        await self.ws.send(yjs.awareness_message(yjs.encode_awareness([entry])))

    async def read(self) -> yjs.Message:
        """Read one frame and apply it (sync updates and step 2 to the document)."""
        msg = yjs.parse_message(await self.ws.recv_bytes())
        self.frames.append(msg)
        if isinstance(msg, yjs.SyncMessage) and msg.kind != yjs.SyncType.STEP1:
            self.doc.apply_update(msg.payload)
        return msg

    async def read_until(self, text: str, timeout: float = 10.0) -> None:
        async def until() -> None:
            while str(self.text) != text:
                await self.read()

        await asyncio.wait_for(until(), timeout)

    def update_frames(self) -> list[yjs.SyncMessage]:
        return [m for m in self.frames if isinstance(m, yjs.SyncMessage) and m.kind == yjs.SyncType.UPDATE]


@contextlib.asynccontextmanager
async def yclient(app: Starlette, room: str, *, window: int = 1 << 20) -> AsyncIterator[YClient]:
    """A client of ``room`` that has asked for the room's state (sync step 1), as y-websocket does."""
    async with MemoryWebsocket(app, f"/ws/{room}", window=window) as ws:
        client = YClient(ws)
        await ws.send(yjs.sync_step1(client.doc.get_state()))
        yield client
