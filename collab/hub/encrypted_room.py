"""A loaded encrypted room: its connections, its head, and the blind write pipeline.

The hub holds no key here. It checks what it can check without one (structure, room id, epoch,
the write signature), makes envelopes durable, numbers them, and relays them byte for byte.
Presence is relayed too, at most ``presence_updates_per_second`` envelopes a second per connection
(faster ones are coalesced: the latest goes out next), and only the last presence envelope of each
live connection is kept in memory so newcomers see who is there; it never reaches the store.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Coroutine

from collab.hub.connection import Connection
from collab.hub.direct import Outbox
from collab.hub.pacing import Pacer
from collab.protocol import close_codes, relay
from collab.protocol import relay_frames as frames
from collab.protocol.rotation import RotationError, parse_rotation
from collab.store.base import EpochKeys

log = logging.getLogger(__name__)
ROTATED_REASON = "the room's keys were rotated: reconnect with the new ones"

if TYPE_CHECKING:
    from collab.hub.hub import Hub


def new_conn_id() -> int:
    # Random, not a counter: conn ids must not collide between hubs that share a room via Redis.
    return int.from_bytes(os.urandom(8), "big") or 1


@dataclass(eq=False)
class Member:
    """One joined connection. While it replays history, live frames wait in ``backlog``."""

    conn: Connection
    conn_id: int
    role: int
    # The key epoch its HELLO verified under: it may write only while that is the room's epoch
    # (collab.hub.encrypted, "What the hub checks per PUBLISH").
    epoch: int = 0
    replaying: bool = True
    backlog: list[tuple[int, bytes]] = field(default_factory=list)  # (seq or 0, frame)
    backlog_bytes: int = 0
    awareness: bytes | None = None  # the last presence envelope it sent
    pacer: Pacer | None = None  # set by its first presence
    outbox: Outbox[int, bytes] | None = None  # set by its first direct message: envelopes by addressee conn id
    # Author ids whose first update on this connection verified under the write key of ``epoch``.
    authors: set[bytes] = field(default_factory=set)

    def deliver(self, frame: bytes, seq: int = 0) -> None:
        if not self.replaying:
            self.conn.send_frame(frame)
            return
        self.backlog.append((seq, frame))
        self.backlog_bytes += len(frame)
        if self.backlog_bytes > self.conn.send_limit:
            self.conn.drop_slow(self.backlog_bytes)


class EncryptedRoom:
    # Appends belong to the sessions, each holding the room until its connection ends.
    inflight = 0

    def __init__(self, hub: "Hub", name: str) -> None:
        self.hub = hub
        self.name = name
        self.members: dict[int, Member] = {}  # conn id -> member
        self.remote_presence: dict[int, bytes] = {}  # conn id on another hub -> its last presence
        self.remote_conns: dict[bytes, set[int]] = {}  # hub id -> its conn ids with presence here
        self.head = 0
        # Keys since the last rotation (None: never rotated, the room's created keys are epoch 0's).
        self.epoch_keys: EpochKeys | None = None
        self.rotating = False  # a rotation is being stored: no append may slip in before it
        self.appending = 0  # PUBLISHes handed to the store and not durable yet
        self._settled = asyncio.Event()
        self._settled.set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._holding: list[Connection] = []  # connections with frames held for this pass's write

    async def load(self) -> None:
        # Only the head and the keys: clients replay the log themselves, from the seq they have.
        self.head = max(self.head, await self.hub.store.head(self.name))
        self.epoch_keys = await self.hub.store.epoch_keys(self.name)

    # -- key epochs --------------------------------------------------------------------------------

    @property
    def epoch(self) -> int:
        return 0 if self.epoch_keys is None else self.epoch_keys.epoch

    def keys(self, created: tuple[bytes, bytes | None]) -> list[tuple[int, bytes, bytes | None]]:
        """(epoch, write key, reader key) of every epoch, the current one first; ``created`` is the
        room's keys as registered (epoch 0's)."""
        if self.epoch_keys is None:
            return [(0, *created)]
        ek = self.epoch_keys
        return [(ek.epoch, ek.write_key, ek.read_key)] + [(e, w, r) for e, (w, r) in reversed(list(enumerate(ek.past)))]

    def append_started(self) -> None:
        self.appending += 1
        self._settled.clear()

    def append_done(self) -> None:
        self.appending -= 1
        if self.appending <= 0:
            self.appending = 0
            self._settled.set()

    async def settled(self) -> None:
        """Every append handed to the store is durable (a rotation's head check comes after them)."""
        await self._settled.wait()

    def rotated(self, keys: EpochKeys) -> None:
        """The store holds ``keys``: every member of an older epoch goes (it comes back with the new
        keys, or learns it was removed); other hubs hear of it."""
        self.epoch_keys = keys
        self._evict_all()
        self.hub.broker.publish(self.name, relay.encode_relay(relay.ROTATED, self.hub.id, keys.epoch, keys.rotation))

    def _remote_rotation(self, envelope: bytes) -> None:
        try:
            rot = parse_rotation(envelope)
        except RotationError:
            return
        if rot.epoch <= self.epoch:
            return
        # Another hub stored it after its own checks; past keys come from the store on the next load.
        self._spawn(self._reload_keys())

    async def _reload_keys(self) -> None:
        try:
            keys = await self.hub.store.epoch_keys(self.name)
        except Exception as exc:
            log.warning("room %s: could not read its rotated keys: %s", self.name, exc)
            return
        if keys is not None and keys.epoch > self.epoch:
            self.epoch_keys = keys
            self._evict_all()

    def _evict_all(self) -> None:
        for member in list(self.members.values()):
            self._spawn(member.conn.close(close_codes.KEYS_ROTATED, ROTATED_REASON))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Nothing to keep: every entry is in the store, and presence is never stored."""

    # -- membership ------------------------------------------------------------------------------

    def add(self, member: Member) -> None:
        self.members[member.conn_id] = member

    def remove(self, member: Member) -> None:
        if self.members.pop(member.conn_id, None) is None:
            return
        if member.pacer is not None:
            member.pacer.cancel()
        self._direct_gone(member.conn_id)
        if member.outbox is not None:
            member.outbox.close()
        frame = frames.left(member.conn_id)
        for other in self.members.values():
            other.deliver(frame)
        self.hub.broker.publish(self.name, relay.encode_relay(relay.LEFT, self.hub.id, member.conn_id, b""))

    def presence_for(self, member: Member) -> list[bytes]:
        """The last presence frame of every other member, for a newcomer."""
        local = [
            frames.awareness_relay(other.conn_id, other.awareness)
            for other in self.members.values()
            if other is not member and other.awareness is not None
        ]
        return local + [frames.awareness_relay(cid, env) for cid, env in self.remote_presence.items()]

    # -- fan-out ---------------------------------------------------------------------------------

    def send_in_pass(self, conn: Connection, frame: bytes) -> None:
        """Send ``frame`` to ``conn`` with whatever else it gets in this loop pass, in one write.

        A group commit settles its appends one callback after the other in one pass, so a member
        gets one ENTRY per entry (and a writer one ACK per own entry) in that pass; written one by
        one that is one ``send()`` each. Held and written once per member at the end of the pass
        (Connection.hold_frame), the same frames in the same order: 99-104 us of hub CPU per
        encrypted update against 119-120 at 6,000/s in workload g's 4-writer room."""
        if conn.hold_frame(frame):
            if not self._holding:
                asyncio.get_running_loop().call_soon(self._release_held)
            self._holding.append(conn)

    def _release_held(self) -> None:
        holding, self._holding = self._holding, []
        for conn in holding:
            conn.release_held()

    def on_durable(self, origin: Member | None, seq: int, envelope: bytes) -> None:
        """An envelope is in the store under ``seq``: tell everyone else, here and on other hubs."""
        self.head = max(self.head, seq)
        frame = frames.entry(seq, envelope)
        for member in self.members.values():
            if member is origin:
                continue
            if member.replaying:
                member.deliver(frame, seq)
            else:
                self.send_in_pass(member.conn, frame)
        if origin is not None:
            self.hub.broker.publish(self.name, relay.encode_relay(relay.UPDATE, self.hub.id, seq, envelope))

    def on_awareness(self, origin: Member, envelope: bytes) -> None:
        """Keep a member's latest presence; relay it now, or when its pacer allows (coalesced:
        a member sending faster than the rate has only its latest envelope relayed)."""
        origin.awareness = envelope
        if origin.pacer is None:
            origin.pacer = Pacer(self.hub.settings.presence_updates_per_second, partial(self._relay_awareness, origin))
        if origin.pacer.ready():
            self._relay_awareness(origin)

    def _relay_awareness(self, origin: Member) -> None:
        envelope = origin.awareness
        if envelope is None or self.members.get(origin.conn_id) is not origin:
            return
        frame = frames.awareness_relay(origin.conn_id, envelope)
        for member in self.members.values():
            if member is not origin:
                member.deliver(frame)
        self.hub.broker.publish(
            self.name, relay.encode_relay(relay.AWARENESS, self.hub.id, origin.conn_id, envelope)
        )

    # -- direct messages (docs/protocol.md, "Direct messages") -----------------------------------

    def on_direct(self, origin: Member, to: int, envelope: bytes) -> bool:
        """An envelope (checked) for connection ``to``: relayed when the pair's pace allows, the
        latest one waiting if several came meanwhile. False: dropped, too many addressees."""
        if origin.outbox is None:
            origin.outbox = Outbox(self.hub.settings.presence_updates_per_second, partial(self._deliver_direct, origin))
        return origin.outbox.send(to, envelope)

    def _deliver_direct(self, origin: Member, to: int, envelope: bytes) -> None:
        member = self.members.get(to)
        if member is not None:
            member.deliver(frames.direct_relay(origin.conn_id, envelope))
        else:  # on another hub, or gone: only a hub holding it delivers it
            self.hub.broker.publish(self.name, relay.encode_direct(self.hub.id, to, origin.conn_id, envelope))

    def _direct_gone(self, conn_id: int) -> None:
        """Connection ``conn_id`` left: what waits for it goes."""
        for member in self.members.values():
            if member.outbox is not None:
                member.outbox.forget(conn_id)

    def _remote_direct(self, message: relay.RelayMessage) -> None:
        member = self.members.get(message.seq)
        if member is None:
            return
        try:
            sender, envelope = relay.split_direct(message.payload)
        except ValueError:
            return
        member.deliver(frames.direct_relay(sender, envelope))

    def on_relay(self, message: relay.RelayMessage) -> None:
        """Traffic other hubs accepted for this room."""
        if message.kind == relay.UPDATE:
            self.on_durable(None, message.seq, message.payload)
        elif message.kind == relay.AWARENESS:
            self.remote_presence[message.seq] = message.payload
            self.remote_conns.setdefault(message.hub_id, set()).add(message.seq)
            frame = frames.awareness_relay(message.seq, message.payload)
            for member in self.members.values():
                member.deliver(frame)
        elif message.kind == relay.ROTATED:
            self._remote_rotation(message.payload)
        elif message.kind == relay.DIRECT:
            self._remote_direct(message)
        elif message.kind == relay.LEFT:
            conns = self.remote_conns.get(message.hub_id)
            if conns is not None:
                conns.discard(message.seq)
                if not conns:
                    del self.remote_conns[message.hub_id]
            self._remote_left(message.seq)

    def _remote_left(self, conn_id: int) -> None:
        self.remote_presence.pop(conn_id, None)
        self._direct_gone(conn_id)
        frame = frames.left(conn_id)
        for member in self.members.values():
            member.deliver(frame)

    def drop_remote_hub(self, hub_id: bytes) -> None:
        """Another hub died (it sent no LEFT): its clients leave for everyone here."""
        for conn_id in sorted(self.remote_conns.pop(hub_id, set())):
            self._remote_left(conn_id)
