"""One websocket connection: a bounded outgoing queue that coalesces document updates.

Under load a receiver may be several updates behind; instead of one frame per update we merge the
queued updates into one (``pycrdt.merge_updates`` of a few small updates costs microseconds), so a
busy room costs frames per receiver per wake-up, not per update. A client that stops reading is
dropped once its queue passes the byte limit, so it cannot grow the hub's memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import deque
from typing import AsyncIterator

import pycrdt
from starlette.websockets import WebSocket, WebSocketState

from collab.hub.abort import ABORT_SCOPE_KEY, RAW_SEND_SCOPE_KEY
from collab.hub.metrics import HubMetrics
from collab.protocol import yjs

log = logging.getLogger(__name__)

_FRAME = 0
_UPDATE = 1
_ids = itertools.count(1)

# Close codes (RFC 6455 and our 4xxx application codes), one place for all of them.
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_UNSUPPORTED_DATA = 1003
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
CLOSE_INTERNAL = 1011
CLOSE_RESTARTING = 1012
CLOSE_TRY_AGAIN = 1013
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_SLOW_CONSUMER = 4408


class Connection:
    def __init__(self, websocket: WebSocket, *, send_limit: int, metrics: HubMetrics, peer: str = "") -> None:
        self.id = next(_ids)
        self.websocket = websocket
        self.peer = peer
        self.send_limit = send_limit
        self.metrics = metrics
        self.awareness_clients: set[int] = set()
        self.closed = False
        self._queue: deque[tuple[int, bytes, bytes]] = deque()
        self._queued_bytes = 0
        self._wake = asyncio.Event()
        self._sender: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"<Connection {self.id} {self.peer}>"

    def start(self) -> None:
        self._sender = asyncio.create_task(self._send_loop(), name=f"collab-send-{self.id}")

    # -- queueing (synchronous, called from room fan-out) ---------------------------------------

    def send_frame(self, frame: bytes) -> None:
        self._enqueue(_FRAME, frame, frame)

    def send_update(self, update: bytes, frame: bytes) -> None:
        """Queue a document update; ``frame`` is its sync-update message, encoded once per fan-out
        and sent as is unless several updates are waiting and get merged."""
        self._enqueue(_UPDATE, update, frame)

    def _enqueue(self, kind: int, data: bytes, frame: bytes = b"") -> None:
        if self.closed:
            return
        self._queued_bytes += len(data)
        if self._queued_bytes > self.send_limit:
            self.metrics.slow_disconnects.inc()
            log.warning("dropping %r: %d bytes queued and it is not reading", self, self._queued_bytes)
            self.abort(CLOSE_SLOW_CONSUMER, "send buffer full: client is not reading")
            return
        self._queue.append((kind, data, frame))
        self._wake.set()

    # -- sending ---------------------------------------------------------------------------------

    def _next_frame(self) -> bytes:
        kind, data, frame = self._queue.popleft()
        self._queued_bytes -= len(data)
        if kind == _FRAME or not self._queue or self._queue[0][0] != _UPDATE:
            return frame
        updates = [data]
        while self._queue and self._queue[0][0] == _UPDATE:
            more = self._queue.popleft()[1]
            self._queued_bytes -= len(more)
            updates.append(more)
        return yjs.sync_update(pycrdt.merge_updates(*updates))

    async def _send_loop(self) -> None:
        ws = self.websocket
        sent = self.metrics.sent
        raw_send = ws.scope.get(RAW_SEND_SCOPE_KEY)
        try:
            while not self.closed:
                await self._wake.wait()
                self._wake.clear()
                while self._queue and not self.closed:
                    frame = self._next_frame()
                    if raw_send is not None:
                        # The server's own send: Starlette's per-message state checks and exception
                        # wrapper are a measurable part of each delivery's cost under load.
                        await raw_send({"type": "websocket.send", "bytes": frame})
                    else:
                        await ws.send_bytes(frame)
                    sent.inc(len(frame))
        except Exception as exc:  # the peer went away mid-send: the receive side will notice
            log.debug("%r send failed: %s", self, exc)
            self.closed = True

    # -- closing ---------------------------------------------------------------------------------

    def abort(self, code: int, reason: str) -> None:
        """Give up on a peer from synchronous code: try a close frame, then drop the connection.

        A peer that does not read never answers the close handshake, and uvicorn would keep its
        socket (and the bytes queued for it) until it does, so the transport is aborted after a
        short grace period either way.
        """
        if self.closed:
            return
        self.closed = True
        self._queue.clear()
        self._queued_bytes = 0
        asyncio.create_task(self._close(code, reason, then_abort=True))

    async def close(self, code: int = CLOSE_NORMAL, reason: str = "") -> None:
        if self.closed:
            return
        self.closed = True
        await self._close(code, reason)

    async def _close(self, code: int, reason: str, then_abort: bool = False) -> None:
        if self._sender is not None and self._sender is not asyncio.current_task():
            self._sender.cancel()
        if self.websocket.application_state == WebSocketState.CONNECTED:
            try:
                await asyncio.wait_for(self.websocket.close(code, reason[:120]), 1.0)
            except Exception:
                then_abort = True
        if then_abort:
            await asyncio.sleep(1.0)
            _abort_transport(self.websocket)

    @classmethod
    @contextlib.asynccontextmanager
    async def opened(cls, websocket: WebSocket, *, send_limit: int, metrics: HubMetrics) -> AsyncIterator["Connection"]:
        """A Connection for an accepted websocket, counted in the metrics while it lives."""
        client = websocket.client
        conn = cls(websocket, send_limit=send_limit, metrics=metrics, peer=f"{client.host}:{client.port}" if client else "")
        metrics.connections.inc()
        try:
            yield conn
        finally:
            await conn.flush_and_stop()
            metrics.connections.dec()

    async def flush_and_stop(self) -> None:
        """Used when the receive side ends: let queued frames go, then stop the sender."""
        self.closed = True
        if self._sender is not None:
            self._sender.cancel()



def _abort_transport(websocket: WebSocket) -> None:
    """Drop the TCP connection of a peer that will not take a close frame (see collab.hub.abort)."""
    abort = websocket.scope.get(ABORT_SCOPE_KEY)
    if abort is not None:
        abort()
