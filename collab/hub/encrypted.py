"""Encrypted rooms: the ``collab-e2ee.v1`` websocket subprotocol, served blind.

One coroutine per connection: challenge, HELLO (writer or reader auth by signature), history replay, then
PUBLISH / SNAPSHOT / AWARENESS until the client leaves. The hub never holds a key: it checks the
envelope's cleartext header and (below) the write signature, stores, numbers and relays. See
docs/protocol.md for the frames and docs/e2ee.md for the envelope.

What the hub checks per PUBLISH, and why the signature is checked once per author per connection:
the write-auth key is one key shared by every writer of an epoch (docs/e2ee.md, "One shared write
key per epoch"), so an envelope's signature can only prove what the connection's HELLO already
proved: that whoever sends on this connection holds the current epoch's write secret. Strangers are
kept out by the challenge (4401), readers, who hold the doc key and could seal a decryptable
forgery, by the role (NACK 2), and a writer removed by a rotation by its connection's epoch (it
authenticated under the old write key: NACK 1 on this connection, which is being closed with
4410). Every client verifies every signature itself whatever the hub does. So the hub verifies the
first update of each author id on a connection (a client signing with a wrong key is refused at
once, before anything of it is stored), binds that author id to the connection, and checks the
rest of that author's updates on this connection for everything but the signature: size,
structure, type, room, epoch. One Ed25519 verification is 110 us on the 2-core development
machine; with it on every publish the hub spent 255-311 us of CPU per encrypted update in workload
g's 4-writer room at 3,000 updates/s, without it 129-136 us (plaintext rooms: 98-148). What binds
a later frame to the authenticated writer is the connection itself, i.e. TLS: on plain ws:// a
party able to inject TCP segments could get unsigned envelopes stored (which every client
rejects), as it could drop or reorder frames anyway. Snapshots, which replace the log, and
rotations are verified every time.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable

from starlette.websockets import WebSocket

from collab.crypto.auth import new_challenge, verify_challenge
from collab.crypto.keys import ROOM_ID_SIZE, b64url_decode
from collab.hub.connection import Connection
from collab.hub.encrypted_room import EncryptedRoom, Member, new_conn_id
from collab.hub.hub import Hub
from collab.hub.receive import receive_frames
from collab.hub.snapshot_upload import SnapshotUpload
from collab.hub.store_failure import close_unavailable, write_failed
from collab.protocol import close_codes
from collab.protocol import relay_frames as frames
from collab.protocol.envelope import (
    EnvelopeType,
    MalformedEnvelope,
    SIGNED_TYPES,
    parse_envelope,
    verify_signature,
)
from collab.protocol.rotation import RotationError, check_rotation, parse_rotation
from collab.store.base import EpochKeys, RoomInfo, SnapshotConflict

log = logging.getLogger(__name__)

SUBPROTOCOL = frames.SUBPROTOCOL
# Stores number entries with signed 64-bit integers (SQLite INTEGER, Redis INCR): a HELLO asking for
# entries after a larger seq is malformed (it was an ERROR in the store and a 1013 close).
MAX_SINCE = 2**63 - 1
_SNAPSHOT_FRAMES = frozenset({frames.FrameType.SNAPSHOT, frames.FrameType.SNAPSHOT_PART})
Nack = frames.NackCode
LARGE_SNAPSHOT = 1024 * 1024  # checked in a thread above this size
READ_ONLY = "read-only connections cannot write"
ROTATED = "the room's keys were rotated: send it again under the new ones"
# Author ids a connection binds (module docstring); an honest provider uses one per session, so
# further ones are verified every time rather than remembered without bound.
MAX_BOUND_AUTHORS = 8


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
        await ws.close(close_codes.NOT_FOUND, "no such encrypted room: create it with POST /api/rooms")
        return
    if info.kind != "encrypted":
        await ws.close(close_codes.FORBIDDEN, "this room is not end-to-end encrypted: join it without collab-e2ee.v1")
        return
    room_id = _room_id_bytes(name)
    if room_id is None or info.write_key is None:
        await ws.close(close_codes.NOT_FOUND, "this room has no encrypted room id")
        return
    if not hub.accepting:
        await ws.close(close_codes.RESTARTING, "hub is shutting down")
        return
    try:
        room = await hub.encrypted_rooms.acquire(name)
    except Exception as exc:
        await close_unavailable(ws, name, exc)
        return
    async with Connection.opened(
        ws, send_limit=hub.settings.send_buffer_bytes, metrics=hub.metrics, admission=ws.app.state.admission
    ) as conn:
        session = EncryptedSession(hub, room, conn, room_id, info.write_key, info.read_key)
        try:
            await session.run()
        finally:
            if session.member is not None:
                room.remove(session.member)
            hub.encrypted_rooms.release(room)


class EncryptedSession:
    """The hub's side of one connection to an encrypted room."""

    def __init__(
        self, hub: Hub, room: EncryptedRoom, conn: Connection, room_id: bytes, write_key: bytes, read_key: bytes | None
    ) -> None:
        self.hub = hub
        self.room = room
        self.conn = conn
        self.room_id = room_id
        self.created = (write_key, read_key)  # epoch 0's keys; read None: open to any reader
        self.challenge = new_challenge()
        self.member: Member | None = None  # set by HELLO
        self._upload: SnapshotUpload | None = None  # a snapshot arriving in parts

    async def run(self) -> None:
        await self.conn.websocket.send_bytes(frames.challenge(self.challenge, self.room.head))
        await receive_frames(
            self.conn, self.room.name, EncryptedSession._on_frame, self, text_reason="collab-e2ee.v1 is binary",
            exempt=EncryptedSession._snapshot_from_writer,
        )

    def _snapshot_from_writer(self, data: bytes) -> bool:
        """Not counted against the write quota: a writer's snapshot replaces the room's log instead of
        adding to it, and has a size limit of its own (--max-snapshot-bytes)."""
        member = self.member
        return member is not None and member.role == frames.ROLE_WRITER and bool(data) and data[0] in _SNAPSHOT_FRAMES

    def _on_frame(self, conn: Connection, data: bytes) -> Awaitable[None] | None:
        frame = frames.decode(data)
        member = self.member
        if member is None:
            if not isinstance(frame, frames.Hello):
                raise frames.ProtocolError("the first frame must be HELLO")
            return self._on_hello(frame)
        if isinstance(frame, frames.Publish):
            self._on_publish(member, frame)
        elif isinstance(frame, frames.Snapshot):
            return self._on_snapshot(member, frame)
        elif isinstance(frame, frames.Awareness):
            self._on_awareness(member, frame)
        elif isinstance(frame, frames.Direct):
            self._on_direct(member, frame)
        elif isinstance(frame, frames.SnapshotPart):
            return self._on_snapshot_part(member, frame)
        elif isinstance(frame, frames.Rotate):
            return self._on_rotate(member, frame)
        else:
            raise frames.ProtocolError(f"unexpected {type(frame).__name__.upper()} frame from a client")
        return None

    def _on_hello(self, hello: frames.Hello) -> Awaitable[None]:
        if hello.since > MAX_SINCE:
            raise frames.ProtocolError(f"HELLO since {hello.since} is past the largest seq ({MAX_SINCE})")
        return self._hello(hello)

    @property
    def write_key(self) -> bytes:
        """The current epoch's write key: what every envelope written now must verify under."""
        return self.room.keys(self.created)[0][1]

    def _epoch_of(self, hello: frames.Hello) -> int | None:
        """The key epoch whose write (or reader) key the HELLO's signature verifies under, newest
        first; None: none of the room's."""
        writer = hello.role == frames.ROLE_WRITER
        for epoch, write, read in self.room.keys(self.created):
            key = write if writer else read
            if key is None or verify_challenge(key, self.room_id, self.challenge, hello.signature or b""):
                return epoch
        return None

    async def _hello(self, hello: frames.Hello) -> None:
        writer = hello.role == frames.ROLE_WRITER
        epoch = self._epoch_of(hello)
        if epoch is not None and epoch < self.room.epoch and self.room.epoch_keys is not None:
            # A member of an older epoch: the rotation holds its new keys (in a box sealed to its
            # device), unless it was removed; either way it cannot use this connection.
            self.conn.handshake_done()
            await self.conn.websocket.send_bytes(frames.rotated(self.room.epoch_keys.rotation))
            await self.conn.close(close_codes.KEYS_ROTATED, "this link's keys were rotated")
            return
        if epoch is None:
            code = close_codes.UNAUTHORIZED
            self.conn.log(log, logging.INFO, "unauthorized", "%r in room %s: %s challenge failed, closed with %d",
                          self.conn, self.room.name, "write" if writer else "reader", code)
            await self.conn.close(code, "not a writer of this room" if writer else "not a member of this room")
            return
        self.conn.handshake_done()
        member = Member(self.conn, new_conn_id(), hello.role, epoch)
        # Joined before the history is read, so nothing committed meanwhile can slip between the two.
        self.room.add(member)
        self.member = member
        # Presence as of joining; whatever changes later reaches the backlog, so none comes twice.
        presence = self.room.presence_for(member)
        await self.conn.websocket.send_bytes(frames.ready(hello.role, member.conn_id))
        if await self._replay(member, hello.since, presence):
            log.debug(
                "%r joined room %s as %s (conn %d, since %d)",
                self.conn, self.room.name, "writer" if hello.role else "reader", member.conn_id, hello.since,
            )

    async def _replay(self, member: Member, since: int, presence: list[bytes]) -> bool:
        """Send the snapshot and the log after ``since``, then what arrived meanwhile, then SYNCED.

        History goes straight to the socket (awaiting each send), so a huge log streams at the
        client's pace instead of piling up in the send queue.
        """
        ws = self.conn.websocket
        try:
            room_log = await self.hub.store.load(self.room.name, since)
        except Exception as exc:
            await close_unavailable(self.conn, self.room.name, exc)
            return False
        sent = since
        if self.room.epoch_keys is not None:  # the back-link to earlier epochs, before their entries
            await ws.send_bytes(frames.rotated(self.room.epoch_keys.rotation))
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

    # -- checks the hub can make without a key ---------------------------------------------------

    def _check(self, data: bytes, expected: EnvelopeType, limit: int, bound: set[bytes] | None = None) -> str | None:
        """Why this envelope must be refused, or None. Reasons never quote envelope content.

        ``bound``: the author ids of the connection's updates whose signature verified already (the
        module docstring says why no other is needed); an update of another author is verified and
        its author bound (up to MAX_BOUND_AUTHORS)."""
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
        if env.epoch != self.room.epoch:
            return f"the envelope is of key epoch {env.epoch}; the room is at epoch {self.room.epoch}"
        if bound is not None and env.author_id in bound:
            return None
        if expected in SIGNED_TYPES and not verify_signature(self.write_key, env):
            return "the signature does not verify under the room's write key"
        if bound is not None and len(bound) < MAX_BOUND_AUTHORS:
            bound.add(env.author_id)
        if expected is EnvelopeType.SNAPSHOT and env.ref == 0:
            return "a snapshot must cover at least one entry"
        return None

    def _refuse(self, client_ref: int, code: Nack, reason: str) -> None:
        self.conn.log(log, logging.INFO, f"nack {code}", "%r in room %s: NACK %d (%s)", self.conn, self.room.name, code, reason)
        self.conn.send_frame(frames.nack(client_ref, code, reason))

    # -- client frames ---------------------------------------------------------------------------

    def _write_refused(self, member: Member, frame: frames.Publish | frames.Snapshot, expected: EnvelopeType) -> bool:
        """NACK a write this connection may not make, or whose envelope fails the checks."""
        if member.role != frames.ROLE_WRITER:
            self._refuse(frame.client_ref, Nack.FORBIDDEN, READ_ONLY)
            return True
        if member.epoch != self.room.epoch:
            # Authenticated under an older epoch's write key (the connection is being closed with
            # 4410): nothing more from it is stored, whatever epoch its envelopes claim.
            self._refuse(frame.client_ref, Nack.STORE_UNAVAILABLE, ROTATED)
            return True
        bound = member.authors if expected is EnvelopeType.UPDATE else None
        problem = self._check(frame.envelope, expected, self.hub.settings.max_frame_bytes, bound)
        if problem is not None and self._older_epoch(frame.envelope):
            # Sealed before its writer learnt of a rotation that just landed: not a bad envelope, a
            # stale one. Retried (NACK 1) on the next connection, sealed again under the new keys.
            self._refuse(frame.client_ref, Nack.STORE_UNAVAILABLE, ROTATED)
            return True
        if problem is not None:
            self._refuse(frame.client_ref, Nack.INVALID_ENVELOPE, problem)
            return True
        return False

    def _older_epoch(self, data: bytes) -> bool:
        try:
            return parse_envelope(data).epoch < self.room.epoch
        except MalformedEnvelope:
            return False

    def _on_publish(self, member: Member, frame: frames.Publish) -> None:
        if self._write_refused(member, frame, EnvelopeType.UPDATE):
            return
        if self.room.rotating:
            # Retried on the next connection: under the new epoch's keys, or as it is if the
            # rotation fails. Stored now, it could land after the rotation and be refused by all.
            self._refuse(frame.client_ref, Nack.STORE_UNAVAILABLE, "the room's keys are being rotated: retry")
            return
        envelope = frame.envelope
        room = self.room
        room.append_started()
        fut = self.hub.store.append(self.room.name, envelope)

        def durable(f: "asyncio.Future[int]") -> None:
            room.append_done()
            exc = f.exception()
            if exc is not None:
                write_failed(self.hub.metrics, self.room.name, exc)
                self._refuse(frame.client_ref, Nack.STORE_UNAVAILABLE, "store unavailable: retry later")
                return
            seq = f.result()
            # With the entries other members' commits settle in this pass, in one write.
            room.send_in_pass(self.conn, frames.ack(frame.client_ref, seq))
            room.on_durable(member, seq, envelope)

        fut.add_done_callback(durable)

    async def _on_snapshot(self, member: Member, frame: frames.Snapshot) -> None:
        if member.role != frames.ROLE_WRITER:
            self._refuse(frame.client_ref, Nack.FORBIDDEN, READ_ONLY)
            return
        envelope, limit = frame.envelope, self.hub.settings.max_snapshot_bytes
        if len(envelope) > LARGE_SNAPSHOT:
            # Checking the signature hashes the whole envelope (~2.7 ms a MiB here); cryptography
            # releases the GIL meanwhile, so a thread keeps it off the loop.
            problem = await asyncio.to_thread(self._check, envelope, EnvelopeType.SNAPSHOT, limit)
        else:
            problem = self._check(envelope, EnvelopeType.SNAPSHOT, limit)
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
            write_failed(self.hub.metrics, self.room.name, exc)
            self._refuse(frame.client_ref, Nack.STORE_UNAVAILABLE, "store unavailable: retry later")
            return
        self.hub.metrics.compactions.inc()
        log.debug("room %s: snapshot through %d accepted (%d bytes)", self.room.name, covers, len(frame.envelope))
        self.conn.send_frame(frames.ack(frame.client_ref, covers))

    def _on_snapshot_part(self, member: Member, part: frames.SnapshotPart) -> Awaitable[None] | None:
        """Collect a snapshot sent in parts (collab.hub.snapshot_upload); handle it once complete."""
        upload = self._upload
        if upload is None or upload.client_ref != part.client_ref:
            limit = self.hub.settings.max_snapshot_bytes
            refused = True
            if member.role != frames.ROLE_WRITER:
                self._refuse(part.client_ref, Nack.FORBIDDEN, READ_ONLY)
            elif part.total > limit:
                self._refuse(part.client_ref, Nack.INVALID_ENVELOPE, f"snapshot of {part.total} bytes is over the {limit}-byte limit")
            else:
                refused = False
            upload = self._upload = SnapshotUpload(part.client_ref, part.total, keep=not refused)
        if not upload.add(part):
            return None
        self._upload = None
        if upload.data is None:
            return None
        return self._on_snapshot(member, frames.Snapshot(part.client_ref, bytes(upload.data)))

    async def _on_rotate(self, member: Member, frame: frames.Rotate) -> None:
        """A writer moves the room to its next key epoch (docs/e2ee.md, "Rotation")."""
        if member.role != frames.ROLE_WRITER:
            self._refuse(frame.client_ref, Nack.FORBIDDEN, READ_ONLY)
            return
        limit = self.hub.settings.max_frame_bytes
        try:
            if len(frame.envelope) > limit:
                raise RotationError(f"rotation of {len(frame.envelope)} bytes is over the {limit}-byte limit")
            rot = parse_rotation(frame.envelope)
        except RotationError as exc:
            self._refuse(frame.client_ref, Nack.INVALID_ENVELOPE, str(exc))
            return
        room = self.room
        problem = check_rotation(rot, self.room_id, room.epoch, self.write_key)
        if problem is not None:
            self._refuse(frame.client_ref, Nack.INVALID_ENVELOPE, problem)
            return
        if room.rotating:
            self._refuse(frame.client_ref, Nack.SNAPSHOT_CONFLICT, "another rotation is being stored")
            return
        past = room.keys(self.created)
        keys = EpochKeys(
            rot.epoch, rot.write_key, rot.read_key, frame.envelope,
            tuple((w, r) for _, w, r in sorted(past, key=lambda k: k[0])),
        )
        room.rotating = True
        try:
            await room.settled()
            await self.hub.store.rotate(room.name, keys, expect_head=rot.ref)
        except SnapshotConflict as exc:
            self._refuse(frame.client_ref, Nack.SNAPSHOT_CONFLICT, f"rotation conflict: {exc}")
            return
        except Exception as exc:
            write_failed(self.hub.metrics, room.name, exc)
            self._refuse(frame.client_ref, Nack.STORE_UNAVAILABLE, "store unavailable: retry later")
            return
        finally:
            room.rotating = False
        log.info("room %s: keys rotated to epoch %d after seq %d", room.name, rot.epoch, rot.ref)
        self.conn.send_frame(frames.ack(frame.client_ref, rot.ref))
        room.rotated(keys)

    def _on_awareness(self, member: Member, frame: frames.Awareness) -> None:
        problem = self._check(frame.envelope, EnvelopeType.AWARENESS, self.hub.settings.max_presence_bytes)
        if problem is not None:
            self._refuse(0, Nack.INVALID_ENVELOPE, f"awareness refused: {problem}")
            return
        self.room.on_awareness(member, frame.envelope)

    def _on_direct(self, member: Member, frame: frames.Direct) -> None:
        """A direct message (readers may send them, as they send presence): checked like presence."""
        problem = self._check(frame.envelope, EnvelopeType.AWARENESS, self.hub.settings.max_presence_bytes)
        if problem is not None:
            self._refuse(0, Nack.INVALID_ENVELOPE, f"direct message refused: {problem}")
            return
        if not self.room.on_direct(member, frame.conn_id, frame.envelope):
            self.conn.log(log, logging.INFO, "direct", "%r in room %s: direct messages to more addressees at once than allowed, dropped",
                          self.conn, self.room.name)
