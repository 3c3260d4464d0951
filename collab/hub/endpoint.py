"""The websocket endpoint: checks (Host, origin, connection caps, name, room kind) and the hand-off
to a room protocol. Every websocket of either kind passes here first."""

from __future__ import annotations

import logging
import time
from typing import Awaitable, Callable

from starlette.responses import JSONResponse
from starlette.websockets import WebSocket

from collab.hub.admission import Admission
from collab.hub.connection import Connection
from collab.hub.hub import Hub
from collab.hub.log_limit import LogLimit
from collab.hub.origin import host_allowed, host_refusal, origin_allowed
from collab.hub.plaintext import serve_plaintext
from collab.hub.rate_limit import TokenBuckets, client_address, rooms_refused
from collab.hub.room import Room
from collab.hub.store_failure import UNAVAILABLE, close_unavailable
from collab.protocol import close_codes
from collab.protocol.room_names import ROOM_NAME_RULE, valid_room_name
from collab.store.base import RoomExists, RoomInfo, StoreUnavailable

log = logging.getLogger(__name__)

# Subprotocol -> handler for rooms that speak something other than y-websocket (encrypted rooms).
SessionHandler = Callable[[Hub, WebSocket, str, RoomInfo | None], Awaitable[None]]


async def websocket_endpoint(ws: WebSocket) -> None:
    state = ws.app.state
    hub: Hub = state.hub
    refusals: LogLimit = state.refusal_log
    host = ws.headers.get("host")
    if not host_allowed(host, state.allowed_hosts):
        refusals.log(log, logging.WARNING, "host", "refused websocket for host %r", host)
        await deny(ws, 421, host_refusal(host))
        return
    if not origin_allowed(ws.headers.get("origin"), host, hub.settings.allowed_origins):
        refusals.log(log, logging.WARNING, "origin", "refused websocket from origin %r", ws.headers.get("origin"))
        await ws.close(close_codes.POLICY)  # before accept: the browser sees HTTP 403
        return
    admission: Admission = state.admission
    address = client_address(ws)
    refusal = admission.admit(address)
    if refusal is not None:
        refusals.log(log, logging.WARNING, f"cap {refusal.status}", "refused websocket from %s: %s", address, refusal.reason)
        await deny(ws, refusal.status, refusal.reason, retry_after=5)
        return
    name = ws.path_params["room"]
    try:
        handlers: dict[str, SessionHandler] = ws.app.state.session_handlers
        for proto in ws.scope.get("subprotocols", []):
            if proto in handlers:
                try:
                    info = await hub.store.room_info(name) if valid_room_name(name) else None
                except StoreUnavailable as exc:
                    # Accept first so the client reads a retryable close (TRY_AGAIN), not an HTTP 500.
                    refusals.log(log, logging.WARNING, "unavailable", "room %s unavailable: %s", name, exc)
                    await ws.accept(subprotocol=proto)
                    await ws.close(close_codes.TRY_AGAIN, UNAVAILABLE)
                    return
                await handlers[proto](hub, ws, name, info)
                return
        room = await _admit_plaintext(hub, ws, name)
        if room is None:
            return
        # Served from here rather than from inside _admit_plaintext: that frame (and the room info it
        # read) would otherwise stay alive as long as the connection.
        async with Connection.opened(
            ws, send_limit=hub.settings.send_buffer_bytes, metrics=hub.metrics, admission=admission
        ) as conn:
            conn.handshake_done()  # y-websocket has no handshake past the upgrade
            conn.start()
            try:
                await serve_plaintext(room, conn)
            finally:
                room.leave(conn)
                hub.plaintext_rooms.release(room)
    finally:
        admission.release(address)


async def deny(ws: WebSocket, status: int, reason: str, *, retry_after: int | None = None) -> None:
    """Refuse an upgrade with an HTTP status and a JSON reason (servers without the ASGI denial
    response extension close it instead: HTTP 403 then)."""
    if "websocket.http.response" not in ws.scope.get("extensions", {}):
        await ws.close(close_codes.POLICY, reason)
        return
    headers = {"Retry-After": str(retry_after)} if retry_after else None
    await ws.send_denial_response(JSONResponse({"error": reason}, status_code=status, headers=headers))


async def _admit_plaintext(hub: Hub, ws: WebSocket, name: str) -> Room | None:
    """Accept the websocket and acquire its room, or close it with the reason and return None."""
    await ws.accept()
    if not valid_room_name(name):
        await ws.close(close_codes.NOT_FOUND, ROOM_NAME_RULE)
        return None
    if not hub.accepting:
        await ws.close(close_codes.RESTARTING, "hub is shutting down")
        return None
    try:
        info = await hub.store.room_info(name)
        if info is None:
            if hub.settings.require_room_creation:
                await ws.close(close_codes.NOT_FOUND, "no such room: create it with POST /api/rooms")
                return None
            # A first connect creates the room for good, as POST /api/rooms does: the same limit.
            creations: TokenBuckets = ws.app.state.room_creations
            wait = creations.take(client_address(ws))
            if wait > 0:
                await ws.close(close_codes.RATE_LIMITED, rooms_refused(creations, wait)[0])
                return None
            try:
                await hub.store.create_room(RoomInfo(name, "plaintext", None, time.time()))
            except RoomExists:
                pass
        elif info.kind != "plaintext":
            await ws.close(close_codes.FORBIDDEN, "this room is end-to-end encrypted: open it with a collab client")
            return None
        return await hub.plaintext_rooms.acquire(name)
    except Exception as exc:
        await close_unavailable(ws, name, exc)
        return None
