"""Plaintext rooms: the standard y-websocket protocol, so stock Yjs and pycrdt providers connect as-is."""

from __future__ import annotations

from typing import Awaitable

from collab.hub.connection import Connection
from collab.hub.receive import receive_frames
from collab.hub.room import Room
from collab.protocol import yjs


def handle_frame(room: Room, conn: Connection, frame: bytes) -> Awaitable[None] | None:
    """Dispatch one binary frame; raises ProtocolError for anything malformed. Returns an awaitable
    for work the connection's next frame must wait for (a large update decoded in the worker, a
    large answer sent)."""
    msg = yjs.parse_message(frame)
    if isinstance(msg, yjs.SyncMessage):
        if msg.kind == yjs.SyncType.STEP1:
            return room.on_sync_step1(conn, msg.payload)
        else:
            return room.on_update(conn, msg.payload)
    elif isinstance(msg, yjs.AwarenessMessage):
        room.on_awareness(conn, msg.payload)
    elif isinstance(msg, yjs.QueryAwarenessMessage):
        room.on_query_awareness(conn)
    elif isinstance(msg, yjs.DirectMessage):
        room.on_direct(conn, msg.peer, msg.payload)
    # Auth messages (type 2) are server-to-client in y-protocols; a client sending one is ignored.
    return None


def serve_plaintext(room: Room, conn: Connection) -> Awaitable[None]:
    """Run one connection of a plaintext room until it closes.

    Not async: it returns the receive loop's coroutine, so no frame of its own stays alive for the
    life of every connection.
    """
    room.join(conn)
    return receive_frames(conn, room.name, handle_frame, room, text_reason="y-websocket messages are binary")
