"""Raw y-websocket presence clients for the hardening tests: an attacker and a watcher.

Both speak the wire format frame by frame, as a hostile client would; the watcher records every
awareness entry the hub relays to it, reading only the framing (a million entries parse in a
second this way, where ``json.loads`` of each would take several).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import AsyncIterator

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from collab.protocol import yjs


def presence_update(entries: list[tuple[int, int, str]]) -> bytes:
    """One awareness frame naming (client id, clock, state json) for each entry."""
    return yjs.awareness_message(yjs.encode_awareness([yjs.AwarenessEntry(c, k, s) for c, k, s in entries]))


def entries_of(update: bytes) -> list[tuple[int, int, bytes]]:
    count, pos = yjs.read_var_uint(update, 0)
    out = []
    for _ in range(count):
        cid, pos = yjs.read_var_uint(update, pos)
        clock, pos = yjs.read_var_uint(update, pos)
        raw, pos = yjs.read_var_bytes(update, pos)
        out.append((cid, clock, raw))
    return out


@dataclass
class Watcher:
    """Records every awareness frame the hub sends it: (client id, clock, raw state) per entry."""

    ws: ClientConnection
    frames: list[list[tuple[int, int, bytes]]] = field(default_factory=list)

    def entries(self) -> list[tuple[int, int, bytes]]:
        return [e for frame in self.frames for e in frame]

    def clients(self) -> set[int]:
        return {cid for cid, _, _ in self.entries()}

    def frames_naming(self, cid: int) -> int:
        return sum(any(c == cid for c, _, _ in frame) for frame in self.frames)

    def last(self, cid: int) -> tuple[int, bytes] | None:
        found = [(clock, raw) for c, clock, raw in self.entries() if c == cid]
        return found[-1] if found else None

    async def _read(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for data in self.ws:
                assert isinstance(data, bytes)
                msg = yjs.parse_message(data)
                if isinstance(msg, yjs.AwarenessMessage):
                    self.frames.append(entries_of(msg.payload))


@contextlib.asynccontextmanager
async def watching(url: str) -> AsyncIterator[Watcher]:
    async with connect(url, max_size=None) as ws:
        watcher = Watcher(ws)
        task = asyncio.create_task(watcher._read())
        try:
            yield watcher
        finally:
            task.cancel()


@contextlib.asynccontextmanager
async def attacker(url: str) -> AsyncIterator[ClientConnection]:
    """A raw connection that never answers the sync protocol; it only sends what it is told to."""
    async with connect(url, max_size=None) as ws:
        yield ws
