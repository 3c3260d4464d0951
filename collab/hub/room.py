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
from typing import TYPE_CHECKING, Any

import pycrdt

from collab.hub.connection import Connection
from collab.hub.replay import replay
from collab.hub.store_failure import write_failed
from collab.protocol import relay, yjs
from collab.store.base import StoreUnavailable

if TYPE_CHECKING:
    from collab.hub.hub import Hub

log = logging.getLogger(__name__)

EMPTY_UPDATE = b"\x00\x00"


class Room:
    def __init__(self, hub: "Hub", name: str) -> None:
        self.hub = hub
        self.name = name
        self.doc: pycrdt.Doc[Any] = pycrdt.Doc()
        self.connections: set[Connection] = set()
        self.awareness: dict[int, tuple[int, str]] = {}  # client id -> (clock, state json)
        self.remote_awareness: dict[bytes, set[int]] = {}  # other hub id -> its clients' ids
        self.head = 0  # highest sequence number applied to self.doc
        self.uncompacted = 0  # log entries past the snapshot
        self.inflight = 0
        self._compacting = False
        self._pending_relay: list[relay.RelayMessage] | None = []
        self._resync: set[Connection] = set()
        self._resync_task: asyncio.Task[None] | None = None

    # -- loading ---------------------------------------------------------------------------------

    async def load(self) -> None:
        """The document from the store; relay traffic heard meanwhile (the registry subscribed
        first) waits in ``_pending_relay`` and is applied after it."""
        room_log = await self.hub.store.load(self.name)
        state = await asyncio.to_thread(replay, room_log)
        self.doc.apply_update(state)
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
        if self.awareness:
            conn.send_frame(yjs.awareness_message(self._awareness_update(self.awareness)))

    def leave(self, conn: Connection) -> None:
        self.connections.discard(conn)
        self._resync.discard(conn)
        gone = [cid for cid in conn.awareness_clients if cid in self.awareness]
        if gone:
            self._remove_awareness(gone, origin=None, publish=True)

    # -- messages from local clients --------------------------------------------------------------

    def on_sync_step1(self, conn: Connection, state_vector: bytes) -> None:
        try:
            diff = self.doc.get_update(state_vector)
        except Exception as exc:
            raise yjs.ProtocolError("invalid state vector") from exc
        conn.send_frame(yjs.sync_step2(diff))

    def on_update(self, conn: Connection, update: bytes) -> None:
        if update == EMPTY_UPDATE:
            return
        try:
            pycrdt.get_state(update)  # full decode of the update: refuses garbage before it is stored
            # Keep only what the room lacks. Some providers (pycrdt's) echo every update they receive;
            # those echoes, and re-sends after a reconnect, cost nothing here.
            update = pycrdt.get_update(update, self.doc.get_state())
        except Exception as exc:
            raise yjs.ProtocolError("invalid Yjs update") from exc
        if update == EMPTY_UPDATE:
            return
        self.inflight += 1
        fut = self.hub.store.append(self.name, update)
        fut.add_done_callback(lambda f: self._on_durable(f, conn, update))

    def _on_durable(self, fut: asyncio.Future[int], origin: Connection, update: bytes) -> None:
        self.inflight -= 1
        exc = fut.exception()
        if exc is not None:
            write_failed(self.hub.metrics, self.name, exc)
            self._resync.add(origin)
            self._start_resync()
            return
        seq = fut.result()
        self._apply(update, seq)
        self.hub.broker.publish(self.name, relay.encode_relay(relay.UPDATE, self.hub.id, seq, update))
        frame = yjs.sync_update(update)
        for conn in self.connections:
            if conn is not origin:
                conn.send_update(update, frame)

    def _apply(self, update: bytes, seq: int) -> None:
        self.doc.apply_update(update)
        if seq > self.head:
            self.head = seq
        self.uncompacted += 1
        if self.uncompacted >= self.hub.settings.compact_after:
            self.schedule_compaction()

    def on_awareness(self, conn: Connection | None, payload: bytes, *, publish: bool = True) -> None:
        entries = yjs.parse_awareness(payload)
        for entry in entries:
            current = self.awareness.get(entry.client_id)
            if entry.state_json == "null":
                self.awareness.pop(entry.client_id, None)
                if conn is not None:
                    conn.awareness_clients.discard(entry.client_id)
            elif current is None or entry.clock >= current[0]:
                self.awareness[entry.client_id] = (entry.clock, entry.state_json)
                if conn is not None:
                    conn.awareness_clients.add(entry.client_id)
        frame = yjs.awareness_message(payload)
        for other in self.connections:
            if other is not conn:
                other.send_frame(frame)
        if publish:
            self.hub.broker.publish(self.name, relay.encode_relay(relay.AWARENESS, self.hub.id, 0, payload))

    def on_query_awareness(self, conn: Connection) -> None:
        conn.send_frame(yjs.awareness_message(self._awareness_update(self.awareness)))

    def _awareness_update(self, states: dict[int, tuple[int, str]]) -> bytes:
        return yjs.encode_awareness([yjs.AwarenessEntry(cid, clock, state) for cid, (clock, state) in states.items()])

    def _remove_awareness(self, client_ids: list[int], origin: Connection | None, publish: bool) -> None:
        removed = {cid: (self.awareness[cid][0] + 1, "null") for cid in client_ids if cid in self.awareness}
        if not removed:
            return
        self.on_awareness(origin, self._awareness_update(removed), publish=publish)

    # -- traffic from other hubs ------------------------------------------------------------------

    def on_relay(self, message: relay.RelayMessage) -> None:
        if self._pending_relay is not None:
            self._pending_relay.append(message)
            return
        self._apply_relay(message)

    def _apply_relay(self, message: relay.RelayMessage) -> None:
        if message.kind == relay.UPDATE:
            self._apply(message.payload, message.seq)
            frame = yjs.sync_update(message.payload)
            for conn in self.connections:
                conn.send_update(message.payload, frame)
        elif message.kind == relay.AWARENESS:
            try:
                entries = yjs.parse_awareness(message.payload)
            except yjs.ProtocolError:
                return
            clients = self.remote_awareness.setdefault(message.hub_id, set())
            for entry in entries:
                (clients.discard if entry.state_json == "null" else clients.add)(entry.client_id)
            self.on_awareness(None, message.payload, publish=False)

    def drop_remote_hub(self, hub_id: bytes) -> None:
        """Another hub died: remove the presence of its clients for everyone here."""
        clients = self.remote_awareness.pop(hub_id, set())
        self._remove_awareness(sorted(clients), origin=None, publish=False)

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

    def schedule_compaction(self) -> None:
        if not self._compacting:
            self._compacting = True
            asyncio.create_task(self._compact())

    async def _compact(self) -> None:
        try:
            # The document holds every committed entry up to head (they are applied in order as they
            # become durable), so its encoded state is a valid snapshot for 1..head.
            upto, before = self.head, self.uncompacted
            state = self.doc.get_update()
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
