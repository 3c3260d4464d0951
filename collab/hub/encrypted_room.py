"""A loaded encrypted room: its connections, its head, and the blind write pipeline.

The hub holds no key here. It checks what it can check without one (structure, room id, epoch,
the write signature), makes envelopes durable, numbers them, and relays them byte for byte.
Presence is relayed too, and only the last presence envelope of each live connection is kept in
memory so newcomers see who is there; it never reaches the store.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from collab.hub import relay
from collab.hub.connection import Connection
from collab.protocol import relay_frames as frames
from collab.store.base import RoomInfo

if TYPE_CHECKING:
    from collab.hub.hub import Hub

log = logging.getLogger(__name__)

# Broker message kinds for encrypted rooms (relay.UPDATE and relay.AWARENESS keep their meaning).
RELAY_ENTRY = relay.UPDATE
RELAY_AWARENESS = relay.AWARENESS
RELAY_LEFT = 3


def new_conn_id() -> int:
    # Random, not a counter: conn ids must not collide between hubs that share a room via Redis.
    return int.from_bytes(os.urandom(8), "big") or 1


@dataclass(eq=False)
class Member:
    """One joined connection. While it replays history, live frames wait in ``backlog``."""

    conn: Connection
    conn_id: int
    role: int
    replaying: bool = True
    backlog: list[tuple[int, bytes]] = field(default_factory=list)  # (seq or 0, frame)
    backlog_bytes: int = 0
    awareness: bytes | None = None  # the last presence envelope it sent

    def deliver(self, frame: bytes, seq: int = 0) -> None:
        if not self.replaying:
            self.conn.send_frame(frame)
            return
        self.backlog.append((seq, frame))
        self.backlog_bytes += len(frame)
        if self.backlog_bytes > self.conn.send_limit:
            self.conn.metrics.slow_disconnects.inc()
            self.conn.abort(4408, "send buffer full: client is not reading")


class EncryptedRoom:
    def __init__(self, hub: "Hub", info: RoomInfo) -> None:
        self.hub = hub
        self.name = info.name
        self.info = info
        self.members: dict[int, Member] = {}  # conn id -> member
        self.remote_presence: dict[int, bytes] = {}  # conn id on another hub -> its last presence
        self.remote_conns: dict[bytes, set[int]] = {}  # hub id -> its conn ids with presence here
        self.head = 0
        self.refs = 0
        # Dropped once set: an Event (with its waiter deque) costs ~0.9 kB, and a hub holds many idle rooms.
        self.loaded: asyncio.Event | None = asyncio.Event()
        self.load_error: BaseException | None = None
        self.unload_task: asyncio.Task[None] | None = None
        self.unloading = False

    async def load(self) -> None:
        try:
            await self.hub.broker.subscribe(self.name, self.on_relay)
            # Only the head: clients replay the log themselves, from the seq they already have.
            self.head = max(self.head, await self.hub.store.head(self.name))
        except BaseException as exc:
            self.load_error = exc
            raise
        finally:
            loaded, self.loaded = self.loaded, None
            if loaded is not None:
                loaded.set()

    async def close(self) -> None:
        await self.hub.broker.unsubscribe(self.name)

    # -- membership ------------------------------------------------------------------------------

    def add(self, member: Member) -> None:
        self.members[member.conn_id] = member

    def remove(self, member: Member) -> None:
        if self.members.pop(member.conn_id, None) is None:
            return
        frame = frames.left(member.conn_id)
        for other in self.members.values():
            other.deliver(frame)
        self.hub.broker.publish(self.name, relay.encode_relay(RELAY_LEFT, self.hub.id, member.conn_id, b""))

    def presence_for(self, member: Member) -> list[bytes]:
        """The last presence frame of every other member, for a newcomer."""
        local = [
            frames.awareness_relay(other.conn_id, other.awareness)
            for other in self.members.values()
            if other is not member and other.awareness is not None
        ]
        return local + [frames.awareness_relay(cid, env) for cid, env in self.remote_presence.items()]

    # -- fan-out ---------------------------------------------------------------------------------

    def on_durable(self, origin: Member | None, seq: int, envelope: bytes) -> None:
        """An envelope is in the store under ``seq``: tell everyone else, here and on other hubs."""
        self.head = max(self.head, seq)
        frame = frames.entry(seq, envelope)
        for member in self.members.values():
            if member is not origin:
                member.deliver(frame, seq)
        if origin is not None:
            self.hub.broker.publish(self.name, relay.encode_relay(RELAY_ENTRY, self.hub.id, seq, envelope))

    def on_awareness(self, origin: Member, envelope: bytes) -> None:
        origin.awareness = envelope
        frame = frames.awareness_relay(origin.conn_id, envelope)
        for member in self.members.values():
            if member is not origin:
                member.deliver(frame)
        self.hub.broker.publish(
            self.name, relay.encode_relay(RELAY_AWARENESS, self.hub.id, origin.conn_id, envelope)
        )

    def on_relay(self, data: bytes) -> None:
        """Traffic other hubs accepted for this room."""
        try:
            message = relay.decode_relay(data)
        except ValueError:
            log.warning("room %s: dropping malformed relay message", self.name)
            return
        if message.kind == RELAY_ENTRY:
            self.on_durable(None, message.seq, message.payload)
        elif message.kind == RELAY_AWARENESS:
            self.remote_presence[message.seq] = message.payload
            self.remote_conns.setdefault(message.hub_id, set()).add(message.seq)
            frame = frames.awareness_relay(message.seq, message.payload)
            for member in self.members.values():
                member.deliver(frame)
        elif message.kind == RELAY_LEFT:
            conns = self.remote_conns.get(message.hub_id)
            if conns is not None:
                conns.discard(message.seq)
                if not conns:
                    del self.remote_conns[message.hub_id]
            self._remote_left(message.seq)

    def _remote_left(self, conn_id: int) -> None:
        self.remote_presence.pop(conn_id, None)
        frame = frames.left(conn_id)
        for member in self.members.values():
            member.deliver(frame)

    def drop_remote_hub(self, hub_id: bytes) -> None:
        """Another hub died (it sent no LEFT): its clients leave for everyone here."""
        for conn_id in sorted(self.remote_conns.pop(hub_id, set())):
            self._remote_left(conn_id)


class EncryptedRooms:
    """The encrypted rooms one hub has loaded: load on first join, unload when idle."""

    def __init__(self, hub: "Hub") -> None:
        self.hub = hub
        self.rooms: dict[str, EncryptedRoom] = {}

    async def acquire(self, info: RoomInfo) -> EncryptedRoom:
        room = self.rooms.get(info.name)
        if room is None:
            room = EncryptedRoom(self.hub, info)
            self.rooms[info.name] = room
            asyncio.create_task(self._load(room))
        room.refs += 1
        if room.unload_task is not None and not room.unloading:
            room.unload_task.cancel()
            room.unload_task = None
        if room.loaded is not None:
            await room.loaded.wait()
        if room.load_error is not None:
            self.release(room)
            raise room.load_error
        return room

    def drop_remote_hub(self, hub_id: bytes) -> None:
        for room in list(self.rooms.values()):
            room.drop_remote_hub(hub_id)

    async def _load(self, room: EncryptedRoom) -> None:
        try:
            await room.load()
        except Exception as exc:
            log.error("encrypted room %s failed to load: %s", room.name, exc)
            if self.rooms.get(room.name) is room:
                del self.rooms[room.name]

    def release(self, room: EncryptedRoom) -> None:
        room.refs -= 1
        if room.refs <= 0 and self.rooms.get(room.name) is room and room.load_error is None:
            room.unload_task = asyncio.create_task(self._unload_later(room))

    async def _unload_later(self, room: EncryptedRoom) -> None:
        await asyncio.sleep(self.hub.settings.room_idle_seconds)
        if room.refs > 0 or self.rooms.get(room.name) is not room:
            return
        room.unloading = True
        try:
            await room.close()
            if room.refs > 0:
                # Someone joined while it was closing: it stays, listening to other hubs again.
                await self.hub.broker.subscribe(room.name, room.on_relay)
            elif self.rooms.get(room.name) is room:
                del self.rooms[room.name]
                log.debug("encrypted room %s unloaded", room.name)
        finally:
            room.unloading = False
            room.unload_task = None
