"""A loaded plaintext room: its document, its connections, its awareness, its write pipeline.

Write path: a client's update is validated (parsed, never trusted), appended to the store, and only
once the store reports it durable is it applied to the room's document and fanned out. So nothing a
client receives can be lost by a crash, and a write the store refused is not in memory either: when
the store is back, the hub sends the writer its state vector and the writer's provider re-sends
whatever the hub lacks.
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial
from typing import TYPE_CHECKING, Any, Awaitable

import pycrdt

from collab.hub.connection import Connection
from collab.hub.direct import Outbox
from collab.hub.direct_write import binary_frame
from collab.hub.fanout import FanOut
from collab.hub.presence import Presence, direct_payload
from collab.hub.replay import replay
from collab.hub.store_failure import write_failed
from collab.protocol import relay, yjs
from collab.protocol.yjs_update import EMPTY_UPDATE, diff_update, unintegrated

EMPTY_STATE = b"\x00"  # the state vector of an empty document: a newcomer's sync step 1
from collab.store.base import StoreUnavailable

if TYPE_CHECKING:
    from collab.hub.hub import Hub

log = logging.getLogger(__name__)


class Room:
    def __init__(self, hub: "Hub", name: str) -> None:
        self.hub = hub
        self.name = name
        self.doc: pycrdt.Doc[Any] = pycrdt.Doc()
        self.connections: set[Connection] = set()
        self._fanout = FanOut(self.connections)
        settings = hub.settings
        self.presence = Presence(
            name, self._relay_presence, max_bytes=settings.max_presence_bytes,
            max_clients=settings.max_presence_clients, rate=settings.presence_updates_per_second,
        )
        self.head = 0  # highest sequence number applied to self.doc
        # Log entries past the snapshot that this hub appended (and, after a load, every entry it
        # read past the snapshot): see _count_own.
        self.uncompacted = 0
        self.inflight = 0
        # What the document holds but has not integrated (updates whose dependencies are missing):
        # kept, since doc.get_update() leaves them out of snapshots and answers (issue 13).
        self._pending: list[bytes] = []
        self._state: bytes | None = None  # the document's state vector, while it is current
        # The answer to a newcomer's sync step 1 (the whole room), while nothing was applied since:
        # encoding a large document takes tens of ms (100,000 typing updates: ~20 ms) and a room
        # being opened by several people, or reopened, gets the same bytes each time.
        self._joiner_step2: bytes | None = None
        self._compacting = False
        self._pending_relay: list[relay.RelayMessage] | None = []
        self._resync: set[Connection] = set()
        self._resync_task: asyncio.Task[None] | None = None
        # Each connection that sent direct messages: its pairs, by addressee client id; a message
        # waiting is (the sender's client id, payload).
        self._outboxes: dict[Connection, Outbox[int, tuple[int, bytes]]] = {}

    # -- loading ---------------------------------------------------------------------------------

    async def load(self) -> None:
        """The document from the store; relay traffic heard meanwhile (the registry subscribed
        first) waits in ``_pending_relay`` and is applied after it."""
        room_log = await self.hub.store.load(self.name)
        state = await asyncio.to_thread(replay, room_log)
        self.doc.apply_update(state)
        self._note_pending(state)
        self.head = room_log.head
        self.uncompacted = len(room_log.entries)
        pending, self._pending_relay = self._pending_relay or [], None
        for message in pending:
            self._apply_relay(message)
        if self.uncompacted >= self.hub.settings.compact_after:
            self.schedule_compaction()

    # -- membership ------------------------------------------------------------------------------

    def join(self, conn: Connection) -> None:
        self.connections.add(conn)
        conn.send_frame(yjs.sync_step1(self.doc.get_state()))
        everyone = self.presence.everyone()
        if everyone is not None:
            conn.send_frame(yjs.awareness_message(everyone))

    def leave(self, conn: Connection) -> None:
        self.connections.discard(conn)
        self._resync.discard(conn)
        self._direct_leave(conn)
        self.presence.leave(conn)

    # -- messages from local clients --------------------------------------------------------------

    def on_sync_step1(self, conn: Connection, state_vector: bytes) -> Awaitable[None] | None:
        """Answer with what the client lacks: the whole room for a newcomer.

        The answer covers every update this connection sent before its sync step 1: with writes
        of its own still on their way to the store (they reach the document only once durable),
        the answer waits for them, and the connection's next frames wait behind it. A client can
        then take the answer as a barrier (y-websocket's servers give that for free, applying
        before storing): the benchmark's history upload does, and without it a joiner right after
        a 100,000-update upload measured the store's backlog (690-750 ms) instead of the join.

        That answer is one frame, and a big room's can be larger than the send buffer (over 16 MiB
        of state, the buffer's default, every joiner was dropped as a slow consumer: issue 13,
        finding 4). One over the frame limit goes straight to the socket instead, awaited, so the
        buffer keeps bounding what waits behind it and the client's next frame waits for it.
        """
        if conn.writes_in_flight:
            return self._answer_after_writes(conn, state_vector)
        return self._answer_step1(conn, state_vector)

    async def _answer_after_writes(self, conn: Connection, state_vector: bytes) -> None:
        await conn.writes_settled()
        answer = self._answer_step1(conn, state_vector)
        if answer is not None:
            await answer

    def _answer_step1(self, conn: Connection, state_vector: bytes) -> Awaitable[None] | None:
        if state_vector == EMPTY_STATE and self._joiner_step2 is not None:
            frame = self._joiner_step2  # nothing applied since the last newcomer's answer
        else:
            try:
                diff = self.doc.get_update(state_vector)
                if self._pending:
                    diff = pycrdt.merge_updates(diff, *(pycrdt.get_update(p, state_vector) for p in self._pending))
            except Exception as exc:
                raise yjs.ProtocolError("invalid state vector") from exc
            frame = yjs.sync_step2(diff)
            if state_vector == EMPTY_STATE:
                self._joiner_step2 = frame
        if len(frame) <= self.hub.settings.max_frame_bytes:
            conn.send_frame(frame)
            return None
        return self._send_large(conn, frame)

    async def _send_large(self, conn: Connection, frame: bytes) -> None:
        try:
            await conn.websocket.send_bytes(frame)
        except Exception as exc:  # the peer went away: its receive side ends the connection
            log.debug("%r: sending %d bytes failed: %s", conn, len(frame), exc)
            return
        conn.metrics.sent.inc(len(frame))

    def on_update(self, conn: Connection, update: bytes) -> Awaitable[None] | None:
        """Validate an update, keep what the room lacks, and store it.

        A large one is decoded in the worker process (collab.hub.decoder) against the state vector
        taken here, on the loop; the awaitable returned holds back this connection's next frame
        until then, so its updates are stored in the order it sent them (those of different
        connections commute).
        """
        if update == EMPTY_UPDATE:
            return None
        state = self._state_vector()
        if len(update) >= self.hub.decoder.threshold:
            return self._decode_elsewhere(conn, update, state)
        try:
            # Some providers (pycrdt's) echo every update they receive; those echoes, and re-sends
            # after a reconnect, cost nothing once diffed.
            diff = diff_update(update, state)
        except Exception as exc:
            raise yjs.ProtocolError("invalid Yjs update") from exc
        self._store(conn, diff)
        return None

    async def _decode_elsewhere(self, conn: Connection, update: bytes, state: bytes) -> None:
        try:
            diff = await self.hub.decoder.diff(update, state)
        except Exception as exc:
            raise yjs.ProtocolError("invalid Yjs update") from exc
        self._store(conn, diff)

    def _store(self, conn: Connection, update: bytes) -> None:
        if update == EMPTY_UPDATE:
            return
        self.inflight += 1
        conn.writes_in_flight += 1
        fut = self.hub.store.append(self.name, update)
        fut.add_done_callback(lambda f: self._on_durable(f, conn, update))

    def _on_durable(self, fut: asyncio.Future[int], origin: Connection, update: bytes) -> None:
        self.inflight -= 1
        origin.write_settled()
        exc = fut.exception()
        if exc is not None:
            write_failed(self.hub.metrics, self.name, exc)
            self._resync.add(origin)
            self._start_resync()
            return
        seq = fut.result()
        self._apply(update, seq)
        self.hub.broker.publish(self.name, relay.encode_relay(relay.UPDATE, self.hub.id, seq, update))
        self._fanout.add(update, origin)
        self._count_own()

    def _apply(self, update: bytes, seq: int) -> None:
        self.doc.apply_update(update)
        self._state = None
        self._joiner_step2 = None
        self._note_pending(update)
        if seq > self.head:
            self.head = seq

    def _state_vector(self) -> bytes:
        if self._state is None:
            self._state = self.doc.get_state()
        return self._state

    def _note_pending(self, update: bytes) -> None:
        rest = unintegrated(update, self._state_vector())
        if rest is not None:
            self._pending.append(rest)

    def _full_state(self) -> bytes:
        """The document's state and what it holds pending (dropping what has integrated since)."""
        state, vector = self.doc.get_update(), self._state_vector()
        self._pending = [rest for p in self._pending if (rest := unintegrated(p, vector)) is not None]
        return pycrdt.merge_updates(state, *self._pending) if self._pending else state

    def on_awareness(self, conn: Connection, payload: bytes) -> None:
        self.presence.on_update(conn, payload)

    def on_query_awareness(self, conn: Connection) -> None:
        self.presence.on_query(conn)

    def _relay_presence(self, update: bytes, origin: Connection | None, publish: bool) -> None:
        frame = yjs.awareness_message(update)
        wire = binary_frame(frame)
        for other in self.connections:
            if other is not origin:
                other.send_frame(frame, wire)
        if publish:
            self.hub.broker.publish(self.name, relay.encode_relay(relay.AWARENESS, self.hub.id, 0, update))

    # -- direct messages (docs/protocol.md, "Direct messages") -----------------------------------

    def on_direct(self, conn: Connection, peer: int, payload: bytes) -> None:
        """A direct message for client ``peer``; raises ``yjs.ProtocolError`` if its payload is
        not a JSON object. Dropped (once logged, never its content) if over the presence limit, if
        the sender speaks for no client id, or if it has too many addressees at once."""
        outbox = self._outboxes.get(conn)
        if outbox is None:
            outbox = self._outboxes[conn] = Outbox(
                self.hub.settings.presence_updates_per_second, partial(self._deliver_direct, conn)
            )
        limit = self.hub.settings.max_presence_bytes
        if len(payload) > limit:
            self._direct_refused(conn, outbox, f"a direct message of {len(payload):,} bytes, over the {limit:,}-byte limit")
            return
        direct_payload(payload)
        sender = self.presence.speaker(conn)
        if sender is None:
            return  # no presence: nobody could tell who it is from
        if not outbox.send(peer, (sender, payload)):
            self._direct_refused(conn, outbox, "direct messages to more addressees at once than allowed")

    def _direct_refused(self, conn: Connection, outbox: Outbox[int, tuple[int, bytes]], what: str) -> None:
        if not outbox.refused:  # once per connection: a flood of refusals is not a flood of log lines
            outbox.refused = True
            log.warning("%r in room %s: dropped %s; dropping more silently", conn, self.name, what)

    def _deliver_direct(self, conn: Connection, peer: int, message: tuple[int, bytes]) -> None:
        """The pair's pace allows it: to the connection that speaks for ``peer`` now, else to the
        other hubs (the one holding it delivers it; with none, nobody hears it)."""
        sender, payload = message
        owner = self.presence.owner(peer)
        if isinstance(owner, Connection):
            owner.send_frame(yjs.direct_message(sender, payload))
        else:
            self.hub.broker.publish(self.name, relay.encode_direct(self.hub.id, peer, sender, payload))

    def _direct_leave(self, conn: Connection) -> None:
        outbox = self._outboxes.pop(conn, None)
        if outbox is not None:
            outbox.close()
        if self._outboxes:
            for cid in self.presence.clients_of(conn):
                for other in self._outboxes.values():
                    other.forget(cid)

    def _remote_direct(self, message: relay.RelayMessage) -> None:
        try:
            sender, payload = relay.split_direct(message.payload)
        except ValueError:
            return
        owner = self.presence.owner(message.seq)
        if isinstance(owner, Connection):
            owner.send_frame(yjs.direct_message(sender, payload))

    # -- traffic from other hubs ------------------------------------------------------------------

    def on_relay(self, message: relay.RelayMessage) -> None:
        if self._pending_relay is not None:
            self._pending_relay.append(message)
            return
        self._apply_relay(message)

    def _apply_relay(self, message: relay.RelayMessage) -> None:
        if message.kind == relay.UPDATE:
            self._apply(message.payload, message.seq)
            self._fanout.add(message.payload, None)
        elif message.kind == relay.AWARENESS:
            self.presence.on_remote(message.hub_id, message.payload)
        elif message.kind == relay.DIRECT:
            self._remote_direct(message)

    def drop_remote_hub(self, hub_id: bytes) -> None:
        """Another hub died: remove the presence of its clients for everyone here."""
        self.presence.drop_hub(hub_id)

    # -- recovery after the store refused writes ---------------------------------------------------

    def _start_resync(self) -> None:
        if self._resync_task is None or self._resync_task.done():
            self._resync_task = asyncio.create_task(self._resync_when_store_returns())

    async def _resync_when_store_returns(self) -> None:
        delay = 0.05
        while self._resync:
            try:
                await self.hub.store.ping()
            except StoreUnavailable:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            # Our state vector makes each writer's provider send back what we never stored.
            step1 = yjs.sync_step1(self.doc.get_state())
            pending, self._resync = self._resync, set()
            for conn in pending:
                conn.send_frame(step1)
            log.info("room %s: store is back, asked %d writers to re-send", self.name, len(pending))

    # -- compaction ------------------------------------------------------------------------------

    def _count_own(self) -> None:
        """Count an entry this hub appended towards compaction; relayed entries count on the hub
        that wrote them. A room shared by hubs is then compacted once per ``compact_after``
        entries in all, by the hub whose entry crosses it, instead of by every hub holding it
        (each encoding the whole document on its loop at the same entries, the lease only keeping
        their writes apart). A hub that only relays never compacts the room (a writer's hub does);
        with writers on K hubs the log grows to about K x compact_after entries between snapshots."""
        self.uncompacted += 1
        if self.uncompacted >= self.hub.settings.compact_after:
            self.schedule_compaction()

    def schedule_compaction(self) -> None:
        if not self._compacting:
            self._compacting = True
            asyncio.create_task(self._compact())

    async def _compact(self) -> None:
        try:
            # The document holds every committed entry up to head (they are applied in order as they
            # become durable), so its encoded state, with what it holds pending, is a valid
            # snapshot for 1..head.
            upto, before = self.head, self.uncompacted
            state = self._full_state()
            # Also a newcomer's whole answer until the next update is applied (which clears it): a
            # room compacted after a burst of writes is joined without encoding it again (~20 ms
            # for 100,000 typing updates).
            self._joiner_step2 = yjs.sync_step2(state)
            # No await between taking the state and calling compact: the Redis store reads its
            # watermark (which entries this hub has applied) before its own first await, so the
            # watermark describes exactly this state; an await here would let entries arrive in
            # between and the store could take the snapshot for one that covers more than it does.
            await self.hub.store.compact(self.name, state, upto)
            self.uncompacted = max(0, self.uncompacted - before)
            self.hub.metrics.compactions.inc()
            log.debug("room %s compacted through %d (%d bytes)", self.name, upto, len(state))
        except Exception as exc:
            log.warning("room %s: compaction failed: %s", self.name, exc)
        finally:
            self._compacting = False

    async def close(self) -> None:
        """Unload: compact what is in memory (a room that failed to load is never closed)."""
        if self.uncompacted:
            self._compacting = True
            await self._compact()
        if self._resync_task is not None:
            self._resync_task.cancel()
