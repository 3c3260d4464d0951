"""One websocket connection: a bounded outgoing queue that coalesces document updates.

A frame for a receiver that is keeping up (nothing queued, its socket buffer below the high-water
mark) is written straight to its transport, in the bytes encoded once for the whole fan-out
(collab.hub.direct_write): no task, no per-receiver framing. Otherwise it is queued, and under
load a receiver may be several updates behind; instead of one frame per update we merge the
queued updates into one (``pycrdt.merge_updates`` of a few small updates costs microseconds), so a
busy room costs frames per receiver per wake-up, not per update. A client that stops reading is
dropped once its queue passes the byte limit, so it cannot grow the hub's memory.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque
from typing import TYPE_CHECKING, Final, Sequence

import pycrdt
from starlette.websockets import WebSocket, WebSocketState

from collab.hub.abort import ABORT_SCOPE_KEY, RAW_SEND_SCOPE_KEY, forget_handshake
from collab.hub.direct_write import binary_frame, direct_protocol, write_direct
from collab.hub.fanout import MERGE_MAX
from collab.hub.log_limit import LogLimit
from collab.hub.metrics import HubMetrics
from collab.hub.read_ahead import ReadAheadWebsocket
from collab.protocol import close_codes, yjs

if TYPE_CHECKING:
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

    from collab.hub.admission import Admission

log = logging.getLogger(__name__)

_FRAME = 0
_UPDATE = 1
# Bytes of frames joined into one transport write at most: about the transport's high-water mark
# (64 KiB), so a receiver's socket buffer overshoots it by no more than one frame-at-a-time writing
# could, and what does not fit waits in the bounded queue as before.
WRITE_CHUNK: Final = 65536
_ids = itertools.count(1)


class Connection:
    """One accepted websocket; ``async with`` counts it in the metrics and stops its sender at the end.

    An idle connection holds no task, event or queue: a hub keeps thousands of them, and each of
    those costs about a kilobyte. The sender task is started by the first frame queued after
    ``start`` and ends when the queue is empty; a burst costs one task, about what waking a
    long-lived one through an ``asyncio.Event`` costs (measured).

    ``admission`` times it (handshake, silence: ``collab.hub.admission``) from ``async with`` on,
    and holds the write quota its frames are counted against.
    """

    def __init__(self, websocket: WebSocket, *, send_limit: int, metrics: HubMetrics, admission: Admission) -> None:
        self.id = next(_ids)
        self.websocket = websocket
        self.send_limit = send_limit
        self.metrics = metrics
        self.admission = admission
        self.last_received = 0.0  # loop time of the last frame from the peer
        self._log_limit: LogLimit | None = None  # made by the first line logged about this connection
        self.awareness_clients: set[int] = set()
        self.closed = False
        # Updates from this peer on their way to the store (collab.hub.room), and what waits for
        # them to settle: a sync step 1 it sent after them is answered once they are applied.
        self.writes_in_flight = 0
        self._settled: asyncio.Future[None] | None = None
        self._queue: deque[tuple[int, bytes, bytes]] | None = None
        # Frames held until the end of this loop pass, to go out in one write (hold_frame).
        self._held: list[bytes] | None = None
        self._queued_bytes = 0
        self._started = False
        self._sender: asyncio.Task[None] | None = None
        # The server's protocol, where frames may be written to its transport directly (set once
        # the websocket is accepted); None: every frame goes through the ASGI send.
        self._direct: WebSocketsSansIOProtocol | None = None

    def frame_sink_protocol(self) -> ReadAheadWebsocket | None:
        """The server's protocol, where it can hand this connection's frames to a sink directly
        (collab.hub.receive); None: frames come through the ASGI ``receive``."""
        direct = self._direct
        return direct if isinstance(direct, ReadAheadWebsocket) else None

    def __repr__(self) -> str:
        client = self.websocket.client
        return f"<Connection {self.id} {client.host}:{client.port}>" if client else f"<Connection {self.id}>"

    def log(self, logger: logging.Logger, level: int, kind: str, msg: str, *args: object) -> None:
        """Log about this connection: at most one line of each ``kind`` per interval, with a count of
        those held back (collab.hub.log_limit), so a client cannot choose how much the hub logs."""
        if self._log_limit is None:
            self._log_limit = LogLimit()
        self._log_limit.log(logger, level, kind, msg, *args)

    def write_settled(self) -> None:
        """One of this peer's writes is durable (or failed): wake a waiter once none is left."""
        self.writes_in_flight -= 1
        settled = self._settled
        if self.writes_in_flight == 0 and settled is not None:
            self._settled = None
            if not settled.done():
                settled.set_result(None)

    async def writes_settled(self) -> None:
        """Return once every write this peer has in flight is durable or failed."""
        if self.writes_in_flight:
            if self._settled is None:
                self._settled = asyncio.get_running_loop().create_future()
            await self._settled

    def handshake_done(self) -> None:
        """The protocol's handshake is complete: from now on only silence times it out."""
        self.admission.handshake_done(self)

    def start(self) -> None:
        """Frames queued so far (and from now on) may go out."""
        self._started = True
        if self._queue:
            self._wake()

    def _wake(self) -> None:
        if self._sender is None and not self.closed:
            self._sender = asyncio.create_task(self._send_loop())

    # -- queueing (synchronous, called from room fan-out) ---------------------------------------

    def send_frame(self, frame: bytes, wire: bytes | None = None) -> None:
        """Send a message; ``wire``, if given, is it as a websocket frame (``binary_frame(frame)``),
        encoded once for every receiver of a fan-out."""
        self._enqueue(_FRAME, frame, frame, wire)

    def send_update(self, update: bytes, frame: bytes, wire: bytes | None = None) -> None:
        """Send a document update; ``frame`` is its sync-update message and ``wire`` that as a
        websocket frame, both encoded once per fan-out and sent as they are unless the update has
        to wait in the queue behind others, where it may get merged with them."""
        self._enqueue(_UPDATE, update, frame, wire)

    def send_frames(self, frames: Sequence[bytes]) -> None:
        """Send several messages, in order: each its own websocket frame, but written to the socket
        in one ``transport.write`` (up to WRITE_CHUNK bytes) where ``send_frame`` would write each
        alone. The same checks as ``send_frame``: what cannot be written now (the socket behind,
        frames queued, not started) is queued frame by frame, counted against the send limit."""
        if self.closed:
            return
        if self._held is not None:
            self.release_held()
        done, n = 0, len(frames)
        direct = self._direct
        if direct is not None and self._started:
            while done < n and self._sender is None and not self._queue:
                end, size = done + 1, len(frames[done])
                while end < n and size + len(frames[end]) <= WRITE_CHUNK:
                    size += len(frames[end])
                    end += 1
                if end == done + 1:
                    wire = binary_frame(frames[done])
                else:
                    wire = b"".join([binary_frame(frame) for frame in frames[done:end]])
                if not write_direct(direct, wire):
                    break
                self.metrics.sent.inc(size)
                done = end
        for frame in frames[done:]:
            self._enqueue(_FRAME, frame, frame)

    def hold_frame(self, frame: bytes) -> bool:
        """Send ``frame`` with the others held in this loop pass, in one write by ``release_held``
        (any other frame sent meanwhile releases them first, so the order on the wire stays that of
        the calls). True: it is the first one held, and the caller must see that ``release_held``
        runs (collab.hub.encrypted_room calls it once per pass for every connection it held for).

        Why: a group commit settles many encrypted entries in one pass, and each went to each member
        as its own ``transport.write`` (a ``send()`` syscall, 4 per update in workload g's 4-writer
        room); one write per member per pass took that to 0.6 per update and the hub's CPU per
        encrypted update at 6,000/s from 119-120 to 99-104 us (bench/e2ee_cost.py)."""
        if self.closed:
            return False
        held = self._held
        if held is None:
            self._held = [frame]
            return True
        held.append(frame)
        return False

    def release_held(self) -> None:
        """Send the frames ``hold_frame`` held (nothing if none)."""
        held = self._held
        if held is not None:
            self._held = None
            self.send_frames(held)

    def _enqueue(self, kind: int, data: bytes, frame: bytes, wire: bytes | None = None) -> None:
        if self.closed:
            return
        if self._held is not None:  # frames held earlier in this pass go first
            self.release_held()
        direct = self._direct
        # Straight to the socket only while nothing waits in the queue or in the sender, so frames
        # keep their order; write_direct refuses when the socket's buffer is over its high-water mark.
        if direct is not None and self._sender is None and not self._queue and self._started:
            if write_direct(direct, binary_frame(frame) if wire is None else wire):
                self.metrics.sent.inc(len(frame))
                return
        self._queued_bytes += len(data)
        if self._queued_bytes > self.send_limit:
            self.drop_slow(self._queued_bytes)
            return
        if self._queue is None:
            self._queue = deque()
        self._queue.append((kind, data, frame))
        if self._started:
            self._wake()

    # -- sending ---------------------------------------------------------------------------------

    def _next_frame(self, queue: deque[tuple[int, bytes, bytes]]) -> bytes:
        kind, data, frame = queue.popleft()
        self._queued_bytes -= len(data)
        if kind == _FRAME or not queue or queue[0][0] != _UPDATE:
            return frame
        updates = [data]
        while queue and queue[0][0] == _UPDATE and len(updates) < MERGE_MAX:
            more = queue.popleft()[1]
            self._queued_bytes -= len(more)
            updates.append(more)
        return yjs.sync_update(pycrdt.merge_updates(*updates))

    async def _send_loop(self) -> None:
        ws = self.websocket
        sent = self.metrics.sent
        raw_send = ws.scope.get(RAW_SEND_SCOPE_KEY)
        try:
            # Frames queued while a send is awaited are picked up by this same loop.
            while self._queue and not self.closed:
                frame = self._next_frame(self._queue)
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
        finally:
            # No await since the loop's last check: nothing can have been queued in between.
            self._sender = None
            if not self._queue or self.closed:
                self._queue = None

    # -- closing ---------------------------------------------------------------------------------

    def drop_slow(self, queued: int) -> None:
        """Give up on a peer that does not read: ``queued`` bytes wait for it, over ``send_limit``."""
        if self.closed:
            return
        self.metrics.slow_disconnects.inc()
        self.log(log, logging.WARNING, "slow", "dropping %r: %d bytes queued and it is not reading", self, queued)
        self.abort(close_codes.SLOW_CONSUMER, "send buffer full: client is not reading")

    def abort(self, code: int, reason: str) -> None:
        """Give up on a peer from synchronous code: try a close frame, then drop the connection.

        A peer that does not read never answers the close handshake, and uvicorn would keep its
        socket (and the bytes queued for it) until it does, so the transport is aborted after a
        short grace period either way.
        """
        if self.closed:
            return
        self.closed = True
        self._queue = None
        self._held = None
        self._queued_bytes = 0
        asyncio.create_task(self._close(code, reason, then_abort=True))

    async def close(self, code: int = close_codes.NORMAL, reason: str = "") -> None:
        if self.closed:
            return
        self.release_held()  # frames held in this pass go before the close frame, as sent
        self.closed = True
        await self._close(code, reason)

    async def close_and_drop(self, code: int, reason: str) -> None:
        """Close, and drop the TCP connection a second later whatever the peer does.

        For a peer that floods: after our close frame the server reads on (discarding) until the
        peer answers it, for up to 10 s; a peer that keeps writing instead gets one second.
        """
        if self.closed:
            return
        self.release_held()
        self.closed = True
        await self._close(code, reason, then_abort=True)

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
    def opened(cls, websocket: WebSocket, *, send_limit: int, metrics: HubMetrics, admission: Admission) -> "Connection":
        """A Connection for an accepted websocket, to use with ``async with``."""
        return cls(websocket, send_limit=send_limit, metrics=metrics, admission=admission)

    # A class-based context manager rather than @asynccontextmanager: the generator and its frame
    # would stay alive for the whole life of the connection.
    async def __aenter__(self) -> "Connection":
        raw_send = self.websocket.scope.get(RAW_SEND_SCOPE_KEY)
        if raw_send is not None:
            forget_handshake(raw_send)
            self._direct = direct_protocol(raw_send)
        self.metrics.connections.inc()
        self.admission.watch(self)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.admission.forget(self)
        await self.flush_and_stop()
        self.metrics.connections.dec()

    async def flush_and_stop(self) -> None:
        """Used when the receive side ends: let queued frames go, then stop the sender."""
        self.closed = True
        self._held = None
        if self._sender is not None:
            self._sender.cancel()


def _abort_transport(websocket: WebSocket) -> None:
    """Drop the TCP connection of a peer that will not take a close frame (see collab.hub.abort)."""
    abort = websocket.scope.get(ABORT_SCOPE_KEY)
    if abort is not None:
        abort()
