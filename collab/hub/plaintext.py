"""Plaintext rooms: the standard y-websocket protocol, so stock Yjs and pycrdt providers connect as-is."""

from __future__ import annotations

import logging

from collab.hub.connection import CLOSE_PROTOCOL_ERROR, Connection
from collab.hub.room import Room
from collab.protocol import yjs

log = logging.getLogger(__name__)


def handle_frame(room: Room, conn: Connection, frame: bytes) -> None:
    """Dispatch one binary frame; raises ProtocolError for anything malformed."""
    msg = yjs.parse_message(frame)
    if isinstance(msg, yjs.SyncMessage):
        if msg.kind == yjs.SyncType.STEP1:
            room.on_sync_step1(conn, msg.payload)
        else:
            room.on_update(conn, msg.payload)
    elif isinstance(msg, yjs.AwarenessMessage):
        room.on_awareness(conn, msg.payload)
    elif isinstance(msg, yjs.QueryAwarenessMessage):
        room.on_query_awareness(conn)
    # Auth messages (type 2) are server-to-client in y-protocols; a client sending one is ignored.


async def serve_plaintext(room: Room, conn: Connection) -> None:
    """Run one connection of a plaintext room until it closes."""
    ws = conn.websocket
    metrics = room.hub.metrics
    room.join(conn)
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            code = message.get("code")
            if code == 1009:
                metrics.protocol_errors.labels("too_big").inc()
                log.warning("%r in room %s: frame over the size limit, closed with 1009", conn, room.name)
            return
        data = message.get("bytes")
        if data is None:
            metrics.protocol_errors.labels("text_frame").inc()
            log.warning("%r in room %s: text frame, closed with 1003", conn, room.name)
            await conn.close(1003, "text frames are not supported: y-websocket messages are binary")
            return
        metrics.received.inc(len(data))
        try:
            handle_frame(room, conn, data)
        except yjs.ProtocolError as exc:
            metrics.protocol_errors.labels("malformed").inc()
            log.warning("%r in room %s: %s, closed with 1002", conn, room.name, exc)
            await conn.close(CLOSE_PROTOCOL_ERROR, f"protocol error: {exc}")
            return
