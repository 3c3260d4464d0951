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
from typing import Any, Awaitable, Callable, Mapping, TypeVar

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


async def receive_frames(
    conn: Connection, room: str, handle: FrameHandler[S], state: S, *, text_reason: str,
    exempt: QuotaExempt[S] | None = None,
) -> None:
    """Hand every binary frame to ``handle`` until the connection ends (or a handler closes it)."""
    ws = conn.websocket
    received = conn.metrics.received
    clock = asyncio.get_running_loop().time
    quota = conn.admission.quota
    bucket = quota.bucket()
    while True:
        message = await ws.receive()
        conn.last_received = clock()
        data = message.get("bytes")
        if data is None:
            await _input_ended(conn, room, message, text_reason)
            return
        received.inc(len(data))
        over = quota.spend(bucket, room, len(data)) if exempt is None or not exempt(state, data) else None
        if over is not None:
            conn.metrics.protocol_errors.labels("rate_limited").inc()
            code = close_codes.RATE_LIMITED
            conn.log(log, logging.WARNING, "quota", "%r in room %s: %s, closed with %d", conn, room, over, code)
            await conn.close_and_drop(code, over)
            return
        try:
            pending = handle(state, conn, data)
            if pending is not None:
                await pending
                if conn.closed:
                    return
        except PROTOCOL_ERRORS as exc:
            conn.metrics.protocol_errors.labels("malformed").inc()
            code = close_codes.PROTOCOL_ERROR
            conn.log(log, logging.WARNING, "malformed", "%r in room %s: %s, closed with %d", conn, room, exc, code)
            await conn.close(code, f"protocol error: {exc}")
            return


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
