"""Encrypted rooms: the ``collab-e2ee.v1`` websocket subprotocol, served blind.

One coroutine per connection: challenge, HELLO (write auth by signature), history replay, then
PUBLISH / SNAPSHOT / AWARENESS until the client leaves. The hub never holds a key: it checks the
envelope's cleartext header and the write signature, stores, numbers and relays. See
docs/protocol.md for the frames and docs/e2ee.md for the envelope.
"""

from __future__ import annotations

import asyncio
import logging

from starlette.websockets import WebSocket

from collab.crypto.auth import new_challenge, verify_challenge
from collab.crypto.keys import ROOM_ID_SIZE, b64url_decode
from collab.hub.connection import (
    CLOSE_FORBIDDEN,
    CLOSE_NOT_FOUND,
    CLOSE_PROTOCOL_ERROR,
    CLOSE_RESTARTING,
    CLOSE_TRY_AGAIN,
    CLOSE_UNAUTHORIZED,
    CLOSE_UNSUPPORTED_DATA,
    Connection,
)
from collab.hub.encrypted_room import EncryptedRoom, EncryptedRooms, Member, new_conn_id
from collab.hub.hub import Hub
from collab.protocol import relay_frames as frames
from collab.protocol.envelope import (
    EPOCH,
    EnvelopeType,
    MalformedEnvelope,
    SIGNED_TYPES,
    parse_envelope,
    verify_signature,
)
from collab.store.base import RoomInfo, SnapshotConflict, StoreUnavailable

log = logging.getLogger(__name__)

SUBPROTOCOL = frames.SUBPROTOCOL
MAX_AWARENESS_BYTES = 64 * 1024
Nack = frames.NackCode


def _registry(hub: Hub) -> EncryptedRooms:
    # Kept on the hub instance (one registry per hub, no module state); Hub itself needs no change.
    registry = getattr(hub, "encrypted_rooms", None)
    if registry is None:
        registry = EncryptedRooms(hub)
        setattr(hub, "encrypted_rooms", registry)
    return registry


def _room_id_bytes(name: str) -> bytes | None:
    try:
        raw = b64url_decode(name)
    except ValueError:
        return None
    return raw if len(raw) == ROOM_ID_SIZE else None


async def serve_encrypted(hub: Hub, ws: WebSocket, name: str, info: RoomInfo | None) -> None:
    """Run one connection that asked for the encrypted subprotocol."""
    await ws.accept(subprotocol=SUBPROTOCOL)
    if info is None:
        await ws.close(CLOSE_NOT_FOUND, "no such encrypted room: create it with POST /api/rooms")
        return
    if info.kind != "encrypted":
        await ws.close(CLOSE_FORBIDDEN, "this room is not end-to-end encrypted: join it without collab-e2ee.v1")
        return
    room_id = _room_id_bytes(name)
    if room_id is None or info.write_key is None:
        await ws.close(CLOSE_NOT_FOUND, "this room has no encrypted room id")
        return
    if not hub.accepting:
        await ws.close(CLOSE_RESTARTING, "hub is shutting down")
        return
    registry = _registry(hub)
    try:
        room = await registry.acquire(info)
    except Exception as exc:
        log.error("encrypted room %s unavailable: %s", name, exc)
        await ws.close(CLOSE_TRY_AGAIN, "room storage unavailable, try again shortly")
        return
    async with Connection.opened(ws, send_limit=hub.settings.send_buffer_bytes, metrics=hub.metrics) as conn:
        session = EncryptedSession(hub, room, conn, room_id)
        try:
            await session.run()
        finally:
            if session.member is not None:
                room.remove(session.member)
            registry.release(room)


class EncryptedSession:
    """The hub's side of one connection to an encrypted room."""

    def __init__(self, hub: Hub, room: EncryptedRoom, conn: Connection, room_id: bytes) -> None:
        self.hub = hub
        self.room = room
        self.conn = conn
        self.room_id = room_id
        self.write_key = room.info.write_key or b""
        self.member: Member | None = None

    async def _receive(self) -> bytes | None:
        """The next binary frame, or None when the connection is over (closed, or closed by us)."""
        message = await self.conn.websocket.receive()
        if message["type"] == "websocket.disconnect":
            if message.get("code") == 1009:
                self.hub.metrics.protocol_errors.labels("too_big").inc()
                log.warning("%r in room %s: frame over the size limit, closed with 1009", self.conn, self.room.name)
            return None
        data = message.get("bytes")
        if data is None:
            self.hub.metrics.protocol_errors.labels("text_frame").inc()
            await self.conn.close(CLOSE_UNSUPPORTED_DATA, "text frames are not supported: collab-e2ee.v1 is binary")
            return None
        self.hub.metrics.received.inc(len(data))
        return data

    async def _protocol_error(self, reason: str) -> None:
        self.hub.metrics.protocol_errors.labels("malformed").inc()
        log.warning("%r in room %s: %s, closed with 1002", self.conn, self.room.name, reason)
        await self.conn.close(CLOSE_PROTOCOL_ERROR, f"protocol error: {reason}")

    async def run(self) -> None:
        ws = self.conn.websocket
        challenge = new_challenge()
        await ws.send_bytes(frames.challenge(challenge, self.room.head))
        data = await self._receive()
        if data is None:
            return
        try:
            hello = frames.decode(data)
        except frames.ProtocolError as exc:
            await self._protocol_error(str(exc))
            return
        if not isinstance(hello, frames.Hello):
            await self._protocol_error("the first frame must be HELLO")
            return
        if hello.role == frames.ROLE_WRITER and not verify_challenge(
            self.write_key, self.room_id, challenge, hello.signature or b""
        ):
            log.info("%r in room %s: write challenge failed, closed with 4401", self.conn, self.room.name)
            await self.conn.close(CLOSE_UNAUTHORIZED, "not a writer of this room")
            return
        member = Member(self.conn, new_conn_id(), hello.role)
        # Joined before the history is read, so nothing committed meanwhile can slip between the two.
        self.room.add(member)
        self.member = member
        # Presence as of joining; whatever changes later reaches the backlog, so none comes twice.
        presence = self.room.presence_for(member)
        await ws.send_bytes(frames.ready(hello.role, member.conn_id))
        if not await self._replay(member, hello.since, presence):
            return
        log.debug(
            "%r joined room %s as %s (conn %d, since %d)",
            self.conn, self.room.name, "writer" if hello.role else "reader", member.conn_id, hello.since,
        )
        await self._serve(member)

    async def _replay(self, member: Member, since: int, presence: list[bytes]) -> bool:
        """Send the snapshot and the log after ``since``, then what arrived meanwhile, then SYNCED.

        History goes straight to the socket (awaiting each send), so a huge log streams at the
        client's pace instead of piling up in the send queue.
        """
        ws = self.conn.websocket
        try:
            room_log = await self.hub.store.load(self.room.name, since)
        except Exception as exc:
            log.error("room %s: history unavailable: %s", self.room.name, exc)
            await self.conn.close(CLOSE_TRY_AGAIN, "room storage unavailable, try again shortly")
            return False
        sent = since
        if room_log.snapshot is not None:
            await ws.send_bytes(frames.entry(room_log.snapshot_seq, room_log.snapshot))
            sent = room_log.snapshot_seq
        for item in room_log.entries:
            await ws.send_bytes(frames.entry(item.seq, item.data))
            sent = max(sent, item.seq)
        for frame in presence:
            await ws.send_bytes(frame)
        if self.conn.closed:
            return False
        backlog, member.backlog, member.backlog_bytes = member.backlog, [], 0
        member.replaying = False
        for seq, frame in backlog:
            if seq == 0 or seq > sent:  # entries already in the history are not sent twice
                self.conn.send_frame(frame)
        self.conn.send_frame(frames.synced(max(sent, self.room.head)))
        self.conn.start()
        return True

    async def _serve(self, member: Member) -> None:
        while True:
            data = await self._receive()
            if data is None:
                return
            try:
                frame = frames.decode(data)
            except frames.ProtocolError as exc:
                await self._protocol_error(str(exc))
                return
            if isinstance(frame, frames.Publish):
                self._on_publish(member, frame)
            elif isinstance(frame, frames.Snapshot):
                await self._on_snapshot(member, frame)
            elif isinstance(frame, frames.Awareness):
                self._on_awareness(member, frame)
            else:
                await self._protocol_error(f"unexpected {type(frame).__name__.upper()} frame from a client")
                return

    # -- checks the hub can make without a key ---------------------------------------------------

    def _check(self, data: bytes, expected: EnvelopeType, limit: int) -> str | None:
        """Why this envelope must be refused, or None. Reasons never quote envelope content."""
        if len(data) > limit:
            return f"envelope of {len(data)} bytes is over the {limit}-byte limit"
        try:
            env = parse_envelope(data)
        except MalformedEnvelope as exc:
            return str(exc)
        if env.type is not expected:
            return f"expected a {expected.name.lower()} envelope, got {env.type.name.lower()}"
        if env.room_id_bytes != self.room_id:
            return "the envelope belongs to another room"
        if env.epoch != EPOCH:
            return f"unknown key epoch {env.epoch}"
        if expected in SIGNED_TYPES and not verify_signature(self.write_key, env):
            return "the signature does not verify under the room's write key"
        if expected is EnvelopeType.SNAPSHOT and env.ref == 0:
            return "a snapshot must cover at least one entry"
        return None

    def _refuse(self, client_ref: int, code: Nack, reason: str) -> None:
        log.info("%r in room %s: NACK %d (%s)", self.conn, self.room.name, code, reason)
        self.conn.send_frame(frames.nack(client_ref, code, reason))

    # -- client frames ---------------------------------------------------------------------------

    def _on_publish(self, member: Member, frame: frames.Publish) -> None:
        if member.role != frames.ROLE_WRITER:
            self._refuse(frame.client_ref, Nack.FORBIDDEN, "read-only connections cannot write")
            return
        problem = self._check(frame.envelope, EnvelopeType.UPDATE, self.hub.settings.max_frame_bytes)
        if problem is not None:
            self._refuse(frame.client_ref, Nack.INVALID_ENVELOPE, problem)
            return
        envelope = frame.envelope
        fut = self.hub.store.append(self.room.name, envelope)

        def durable(f: "asyncio.Future[int]") -> None:
            exc = f.exception()
            if exc is not None:
                self.hub.metrics.store_errors.inc()
                if not isinstance(exc, StoreUnavailable):
                    log.error("room %s: unexpected store failure: %r", self.room.name, exc)
                self._refuse(frame.client_ref, Nack.STORE_UNAVAILABLE, "store unavailable: retry later")
                return
            seq = f.result()
            self.conn.send_frame(frames.ack(frame.client_ref, seq))
            self.room.on_durable(member, seq, envelope)

        fut.add_done_callback(durable)

    async def _on_snapshot(self, member: Member, frame: frames.Snapshot) -> None:
        if member.role != frames.ROLE_WRITER:
            self._refuse(frame.client_ref, Nack.FORBIDDEN, "read-only connections cannot write")
            return
        problem = self._check(frame.envelope, EnvelopeType.SNAPSHOT, self.hub.settings.max_frame_bytes)
        if problem is not None:
            self._refuse(frame.client_ref, Nack.INVALID_ENVELOPE, problem)
            return
        covers = parse_envelope(frame.envelope).ref
        try:
            await self.hub.store.compact(self.room.name, frame.envelope, covers, expect_head=covers)
        except SnapshotConflict as exc:
            self._refuse(frame.client_ref, Nack.SNAPSHOT_CONFLICT, f"snapshot conflict: {exc}")
            return
        except Exception as exc:
            self.hub.metrics.store_errors.inc()
            log.error("room %s: snapshot not stored: %s", self.room.name, exc)
            self._refuse(frame.client_ref, Nack.STORE_UNAVAILABLE, "store unavailable: retry later")
            return
        self.hub.metrics.compactions.inc()
        log.debug("room %s: snapshot through %d accepted (%d bytes)", self.room.name, covers, len(frame.envelope))
        self.conn.send_frame(frames.ack(frame.client_ref, covers))

    def _on_awareness(self, member: Member, frame: frames.Awareness) -> None:
        problem = self._check(frame.envelope, EnvelopeType.AWARENESS, MAX_AWARENESS_BYTES)
        if problem is not None:
            self._refuse(0, Nack.INVALID_ENVELOPE, f"awareness refused: {problem}")
            return
        self.room.on_awareness(member, frame.envelope)
