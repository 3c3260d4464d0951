"""A plaintext room's presence (Yjs awareness) at the hub: bounded per connection, never trusted.

y-protocols lets any client set or remove the state of any client id, and the hub used to keep
and relay whatever came: three anonymous clients sending updates of a million entries (8 MB each)
stalled the event loop 10 s and grew RSS by 530 MB, their leaving another 38 s, and a state nested
977 deep raised RecursionError in ``json.loads`` (issue 13, finding 3). Now:

- an update naming more than ``MAX_UPDATE_ENTRIES`` clients is dropped unread (the count comes
  first, so refusing it costs nothing);
- a connection speaks for the client ids it announced first, at most ``max_clients`` of them,
  their states at most ``max_bytes`` in all; more is dropped. An entry for a client id that
  another connection (or another hub) speaks for is dropped unless its clock is newer (a client
  that reconnected before its old connection was noticed gone): then the id moves over. Stock
  y-websocket clients echo every awareness change they receive back to the hub; those echoes carry
  the clock the hub already has and stop here instead of being relayed to everyone again;
- a state is UTF-8 JSON whose nesting depth is measured without recursing before ``json.loads``
  sees it; anything else is malformed input (the connection is closed with 1002, as for any
  malformed frame);
- what a connection changes is relayed at most ``rate`` times a second; faster changes are
  coalesced into the next relay, which carries each client's latest state (collab.hub.pacing);
- leaving removes the ids that connection speaks for: at most ``max_clients`` entries.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from functools import partial
from typing import Callable, Iterable

from collab.hub.connection import Connection
from collab.hub.pacing import Pacer
from collab.protocol import yjs
from collab.protocol.presence import MAX_DEPTH, nesting_depth

log = logging.getLogger(__name__)

# One update names each changed client once; a y-websocket client that echoes the hub's first
# update to it names everyone in the room. Scanning this many entries costs well under a millisecond.
MAX_UPDATE_ENTRIES = 1024
NULL = "null"

# A local connection, or the id of the hub whose client it is.
Owner = Connection | bytes
# Sends an encoded awareness update to every local connection but ``origin``, and to the other
# hubs when ``publish`` is set.
Relay = Callable[[bytes, Connection | None, bool], None]


@dataclass(eq=False, slots=True)
class _Source:
    """The presence one local connection speaks for."""

    pacer: Pacer = field(init=False)
    clients: dict[int, int] = field(default_factory=dict)  # client id -> bytes of its state
    size: int = 0
    waiting: dict[int, tuple[int, str]] = field(default_factory=dict)  # changes not relayed yet
    query: bool = False  # it asked for everyone's state while its pacer had no token
    warned: bool = False


def state_text(raw: bytes) -> str:
    """The state as JSON text, or ``yjs.ProtocolError``: UTF-8, bounded nesting, valid JSON."""
    text, value = _parse(raw, "awareness state")
    return NULL if value is None else text


def direct_payload(raw: bytes) -> None:
    """Check a direct message's payload like a state, and that it is an object; else ``yjs.ProtocolError``."""
    if not isinstance(_parse(raw, "direct message")[1], dict):
        raise yjs.ProtocolError("direct message is not a JSON object")


def _parse(raw: bytes, what: str) -> tuple[str, object]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise yjs.ProtocolError(f"{what} is not JSON") from None
    if nesting_depth(text) > MAX_DEPTH:
        raise yjs.ProtocolError(f"{what} nests deeper than {MAX_DEPTH} levels")
    try:
        return text, json.loads(text)
    except ValueError:
        raise yjs.ProtocolError(f"{what} is not JSON") from None


def read_entries(update: bytes) -> dict[int, tuple[int, bytes]] | None:
    """client id -> (clock, raw state), the last entry of each id; None if it names too many."""
    count, pos = yjs.read_var_uint(update, 0)
    if count > MAX_UPDATE_ENTRIES:
        return None
    entries: dict[int, tuple[int, bytes]] = {}
    for _ in range(count):
        client_id, pos = yjs.read_var_uint(update, pos)
        clock, pos = yjs.read_var_uint(update, pos)
        raw, pos = yjs.read_var_bytes(update, pos)
        entries[client_id] = (clock, raw)
    if pos != len(update):
        raise yjs.ProtocolError("trailing bytes after awareness update")
    return entries


def encode(changes: Iterable[tuple[int, tuple[int, str]]]) -> bytes:
    return yjs.encode_awareness([yjs.AwarenessEntry(cid, clock, state) for cid, (clock, state) in changes])


class Presence:
    def __init__(self, room: str, relay: Relay, *, max_bytes: int, max_clients: int, rate: float) -> None:
        self.room = room
        self.states: dict[int, tuple[int, str]] = {}  # client id -> (clock, state json)
        self._owners: dict[int, Owner] = {}
        self._sources: dict[Connection, _Source] = {}
        self._relay = relay
        self.max_bytes = max_bytes
        self.max_clients = max_clients
        self.rate = rate

    def everyone(self) -> bytes | None:
        """One update with every state held, for a newcomer; None while nobody is present."""
        return encode(self.states.items()) if self.states else None

    def speaker(self, conn: Connection) -> int | None:
        """The client id a connection's direct messages are from: the first it announced of those
        it still speaks for; None if it speaks for none."""
        source = self._sources.get(conn)
        return next(iter(source.clients), None) if source is not None else None

    def clients_of(self, conn: Connection) -> list[int]:
        source = self._sources.get(conn)
        return list(source.clients) if source is not None else []

    def owner(self, cid: int) -> Owner | None:
        """Who speaks for a client id: a local connection, another hub's id, or nobody known."""
        return self._owners.get(cid)

    # -- local connections -----------------------------------------------------------------------

    def _source(self, conn: Connection) -> _Source:
        source = self._sources.get(conn)
        if source is None:
            source = self._sources[conn] = _Source()
            source.pacer = Pacer(self.rate, partial(self._flush, conn, source))
        return source

    def on_update(self, conn: Connection, update: bytes) -> None:
        """An awareness update from a local client; raises ``yjs.ProtocolError`` if malformed."""
        entries = read_entries(update)
        source = self._source(conn)
        if entries is None:
            self._warn(conn, source, f"an update naming more than {MAX_UPDATE_ENTRIES:,} clients")
            return
        changes: dict[int, tuple[int, str]] = {}
        sizes: dict[int, int] = {}
        clients, size = len(source.clients), source.size
        for cid, (clock, raw) in entries.items():
            owner = self._owners.get(cid)
            current = self.states.get(cid)
            if owner is not conn and owner is not None and (current is None or clock <= current[0]):
                continue  # an echo, or an older state of someone else's client
            if owner is conn and current is not None and clock < current[0]:
                continue
            text = NULL if raw == b"null" else state_text(raw)
            if text == NULL:
                if owner is conn:
                    changes[cid] = (clock, NULL)
                    clients, size = clients - 1, size - source.clients[cid]
                continue  # a client nobody here holds, or someone else's: nothing to remove
            held = source.clients.get(cid, 0) if owner is conn else 0
            if owner is not conn and clients >= self.max_clients:
                self._warn(conn, source, f"more than {self.max_clients} clients on one connection")
                continue
            if size - held + len(raw) > self.max_bytes:
                self._warn(conn, source, f"more than {self.max_bytes:,} bytes of state on one connection")
                continue
            changes[cid], sizes[cid] = (clock, text), len(raw)
            clients, size = clients + (owner is not conn), size - held + len(raw)
        for cid, (clock, text) in changes.items():
            if text == NULL:
                self._forget(cid)
            else:
                self._hold(cid, conn, source, clock, text, sizes[cid])
        if changes:
            source.waiting.update(changes)
            if source.pacer.ready():
                self._flush(conn, source)

    def on_query(self, conn: Connection) -> None:
        """A client asked for everyone's state: answered now, or with its next paced relay."""
        source = self._source(conn)
        if source.pacer.ready():
            self._answer_query(conn)
        else:
            source.query = True

    def _answer_query(self, conn: Connection) -> None:
        conn.send_frame(yjs.awareness_message(encode(self.states.items())))

    def _flush(self, conn: Connection, source: _Source) -> None:
        waiting, source.waiting = source.waiting, {}
        if waiting:
            self._relay(encode(waiting.items()), conn, True)
        if source.query:
            source.query = False
            self._answer_query(conn)

    def _warn(self, conn: Connection, source: _Source, what: str) -> None:
        if not source.warned:  # once per connection: a flood of refusals is not a flood of log lines
            source.warned = True
            log.info("%r in room %s: presence refused (%s); refusing more silently", conn, self.room, what)

    def leave(self, conn: Connection) -> None:
        """A connection went: the clients it spoke for leave for everyone, here and on other hubs."""
        source = self._sources.pop(conn, None)
        if source is None:
            return
        source.pacer.cancel()
        gone = {cid: change for cid, change in source.waiting.items() if change[1] == NULL}
        for cid in list(source.clients):
            gone[cid] = (self.states[cid][0] + 1, NULL)
            self._forget(cid)
        if gone:
            self._relay(encode(gone.items()), None, True)

    # -- other hubs ------------------------------------------------------------------------------

    def on_remote(self, hub_id: bytes, update: bytes) -> None:
        """Presence another hub accepted from its clients (already bounded there)."""
        try:
            entries = read_entries(update)
        except yjs.ProtocolError:
            entries = None
        if entries is None:
            log.warning("room %s: dropping a malformed presence relay", self.room)
            return
        changes: dict[int, tuple[int, str]] = {}
        for cid, (clock, raw) in entries.items():
            current, owner = self.states.get(cid), self._owners.get(cid)
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                continue
            if text == NULL:
                if owner == hub_id:
                    self._forget(cid)
                    changes[cid] = (clock, NULL)
            elif current is None or clock >= current[0]:
                self._forget(cid)
                self.states[cid], self._owners[cid] = (clock, text), hub_id
                changes[cid] = (clock, text)
        if changes:
            self._relay(encode(changes.items()), None, False)

    def drop_hub(self, hub_id: bytes) -> None:
        """Another hub died: the presence of its clients goes for everyone here."""
        gone = {cid: (self.states[cid][0] + 1, NULL) for cid, owner in self._owners.items() if owner == hub_id}
        for cid in gone:
            self._forget(cid)
        if gone:
            self._relay(encode(sorted(gone.items())), None, False)

    # -- bookkeeping -----------------------------------------------------------------------------

    def _hold(self, cid: int, conn: Connection, source: _Source, clock: int, text: str, size: int) -> None:
        if self._owners.get(cid) is not conn:
            self._forget(cid)  # it moves over from whoever spoke for it
        source.size += size - source.clients.get(cid, 0)
        source.clients[cid] = size
        self.states[cid], self._owners[cid] = (clock, text), conn

    def _forget(self, cid: int) -> None:
        owner = self._owners.pop(cid, None)
        self.states.pop(cid, None)
        if isinstance(owner, Connection):
            source = self._sources.get(owner)
            if source is not None:
                source.size -= source.clients.pop(cid, 0)
                source.waiting.pop(cid, None)
