"""One receive loop for both room protocols: binary frames in, and how a connection's input ends.

Both protocols are binary. A text frame, a frame over the size limit (the server itself closes
with TOO_BIG) and malformed input end a connection the same way in both: logged and counted.
Every frame is timed (the idle timeout, collab.hub.admission) and paid for from the connection's
and the room's write quota (collab.hub.write_quota) before it is handled: a frame over the quota
closes the connection with RATE_LIMITED and is not handled.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable, Generic, Mapping, TypeVar

from collab.hub.connection import Connection
from collab.protocol import close_codes, relay_frames, yjs

log = logging.getLogger(__name__)

# A handler raises one of these for input it refuses; the connection is closed with PROTOCOL_ERROR.
PROTOCOL_ERRORS = (yjs.ProtocolError, relay_frames.ProtocolError)

S = TypeVar("S")

# Handles one binary frame, given what it acts on (a room, a session) and the connection. It returns
# an awaitable only for work that must finish before the next frame is read, so the common case
# (plaintext updates) costs no coroutine per frame. A plain function and its state rather than a
# bound callable: an idle connection holds no extra object (a partial cost ~0.2 kB of RSS each).
FrameHandler = Callable[[S, Connection, bytes], Awaitable[None] | None]


# Says whether a frame is exempt from the write quota (a protocol's own, separately bounded traffic).
QuotaExempt = Callable[[S, bytes], bool]


def receive_frames(
    conn: Connection, room: str, handle: FrameHandler[S], state: S, *, text_reason: str,
    exempt: QuotaExempt[S] | None = None,
) -> Awaitable[None]:
    """Hand every binary frame to ``handle`` until the connection ends (or a handler closes it).

    Where the server's protocol takes a frame sink (collab.hub.read_ahead), a frame that arrives
    while this loop waits on an empty queue is handled right in the protocol's ``data_received``:
    no ASGI message, no queue, no wake-up of the connection's task (in workload b the hub's CPU per
    update went from 190-211 to 162-192 us). Only what needs awaiting (a close, a handler's
    awaitable) comes to the task, as work queued in the frame's place, and frames after it queue
    behind it as usual.
    """
    return _Receiver(conn, room, handle, state, text_reason, exempt).run()


# The key of a queued message that carries work for the receive loop instead of a frame.
WORK = "collab.work"


class _Receiver(Generic[S]):
    # One per connection for its whole life, so slots: no closures (their cells cost ~0.7 kB).
    __slots__ = ("conn", "room", "handle", "state", "text_reason", "exempt", "clock", "bucket", "protocol")

    def __init__(
        self, conn: Connection, room: str, handle: FrameHandler[S], state: S, text_reason: str,
        exempt: QuotaExempt[S] | None,
    ) -> None:
        self.conn = conn
        self.room = room
        self.handle = handle
        self.state = state
        self.text_reason = text_reason
        self.exempt = exempt
        self.clock = asyncio.get_running_loop().time
        self.bucket = conn.admission.quota.bucket()
        self.protocol = conn.frame_sink_protocol()

    async def run(self) -> None:
        ws, protocol = self.conn.websocket, self.protocol
        while True:
            if protocol is not None:
                protocol.frame_sink = self
            message = await ws.receive()
            if protocol is not None:
                protocol.frame_sink = None
            work = message.get(WORK)
            if work is None:
                data = message.get("bytes")
                if data is None:
                    await _input_ended(self.conn, self.room, message, self.text_reason)
                    return
                work = self.step(data)
            if work is not None and await work:
                return

    def frame(self, data: bytes) -> None:
        """A binary message, from the protocol's ``data_received``, while ``run`` waits on an empty queue."""
        try:
            work = self.step(data)
        except Exception as exc:  # a bug: raised in the connection's task, as if it had happened there
            work = _raise(exc)
        if work is not None and self.protocol is not None:
            self.protocol.frame_sink = None  # the frames after this one queue behind it
            self.protocol.queue.put_nowait({"type": "websocket.receive", WORK: work})  # type: ignore[arg-type]

    def step(self, data: bytes) -> Awaitable[bool] | None:
        """Handle one frame; an awaitable for what must finish before the next one (True: stop)."""
        conn, room = self.conn, self.room
        conn.last_received = self.clock()
        conn.metrics.received.inc(len(data))
        exempt = self.exempt
        if exempt is None or not exempt(self.state, data):
            over = conn.admission.quota.spend(self.bucket, room, len(data))
            if over is not None:
                conn.metrics.protocol_errors.labels("rate_limited").inc()
                code = close_codes.RATE_LIMITED
                conn.log(log, logging.WARNING, "quota", "%r in room %s: %s, closed with %d", conn, room, over, code)
                return _stop_after(conn.close_and_drop(code, over))
        try:
            pending = self.handle(self.state, conn, data)
        except PROTOCOL_ERRORS as exc:
            return _malformed(conn, room, exc)
        return None if pending is None else _after(conn, room, pending)


async def _stop_after(closing: Awaitable[None]) -> bool:
    await closing
    return True


async def _after(conn: Connection, room: str, pending: Awaitable[None]) -> bool:
    try:
        await pending
    except PROTOCOL_ERRORS as exc:
        return await _malformed(conn, room, exc)
    return conn.closed


async def _malformed(conn: Connection, room: str, exc: Exception) -> bool:
    conn.metrics.protocol_errors.labels("malformed").inc()
    code = close_codes.PROTOCOL_ERROR
    conn.log(log, logging.WARNING, "malformed", "%r in room %s: %s, closed with %d", conn, room, exc, code)
    await conn.close(code, f"protocol error: {exc}")
    return True


async def _raise(exc: Exception) -> bool:
    raise exc


async def _input_ended(conn: Connection, room: str, message: Mapping[str, Any], text_reason: str) -> None:
    """The peer left, the server refused an oversized frame, or a text frame came (we close)."""
    if message["type"] == "websocket.disconnect":
        if message.get("code") == close_codes.TOO_BIG:
            conn.metrics.protocol_errors.labels("too_big").inc()
            conn.log(
                log, logging.WARNING, "too_big", "%r in room %s: frame over the size limit, closed with %d",
                conn, room, close_codes.TOO_BIG,
            )
        return
    conn.metrics.protocol_errors.labels("text_frame").inc()
    conn.log(log, logging.WARNING, "text", "%r in room %s: text frame, closed with %d", conn, room, close_codes.UNSUPPORTED_DATA)
    await conn.close(close_codes.UNSUPPORTED_DATA, f"text frames are not supported: {text_reason}")
