"""Presence on the client side, for both kinds of room: peers' states in, ours kept alive.

Peers' states are read with ``collab.protocol.presence`` (bounded size, depth and count, parsed
without recursion): a state this client cannot hold is dropped on its own, with that peer's
earlier state, and the rest of the update and the connection carry on.
"""

from __future__ import annotations

import asyncio
from typing import Callable

import pycrdt

from collab.protocol import presence, yjs

# y-protocols drops a peer's presence after 30 s of silence: renew well within that.
RENEW_S = 15.0

Refused = presence.Refused


async def keep_alive(awareness: pycrdt.Awareness, every: float = RENEW_S) -> None:
    """Re-set our local state now and then (a higher clock) so peers keep us; runs until cancelled."""
    while True:
        await asyncio.sleep(every)
        state = awareness.get_local_state()
        if state is not None:
            awareness.set_local_state(state)


class RemotePresence:
    """Peers' presence, by the connection (or hub relay) it was heard through.

    A connection's peers are forgotten when it ends (the hub re-sends them on reconnect) and, in
    encrypted rooms, when the hub says that peer's connection left.
    """

    def __init__(self, awareness: pycrdt.Awareness, on_refused: Callable[[Refused, int], None]) -> None:
        self.awareness = awareness
        self.on_refused = on_refused  # (what was refused, the source it came through)
        self._by_source: dict[int, set[int]] = {}
        self._first: dict[int, int] = {}  # source -> the first client id it spoke for that is still here

    def apply(self, update: bytes, source: int = 0) -> None:
        """Apply a peer's awareness update; raises yjs.ProtocolError if its framing is broken."""
        accepted, refused = presence.read_update(update)
        own = self.awareness.client_id
        clients = self._by_source.setdefault(source, set())
        for entry in accepted:
            if entry.client_id != own:
                (clients.discard if entry.state_json == "null" else clients.add)(entry.client_id)
                if entry.state_json != "null":
                    self._first.setdefault(source, entry.client_id)
        if refused:
            stale = [r.client_id for r in refused if r.client_id in clients and r.client_id != own]
            clients.difference_update(stale)
            stale = [cid for cid in stale if cid in self.awareness.states]
            if stale:
                self.awareness.remove_awareness_states(stale, "remote")
            for r in refused:
                self.on_refused(r, source)
        if accepted:
            self.awareness.apply_awareness_update(update if not refused else yjs.encode_awareness(accepted), "remote")
        if self._first.get(source) not in clients:
            self._first.pop(source, None)  # the client it spoke for left; the next one it names is the one
            if clients:
                self._first[source] = min(clients)

    def source_of(self, client_id: int) -> int | None:
        """The connection (or relay) whose presence speaks for ``client_id``: where to address it."""
        for source, clients in self._by_source.items():
            if client_id in clients:
                return source
        return None

    def client_of(self, source: int) -> int | None:
        """The Yjs client id a source speaks for (its first one still present): who sent from there."""
        return self._first.get(source)

    def forget(self, source: int, origin: str = "remote") -> None:
        self._first.pop(source, None)
        gone = [cid for cid in self._by_source.pop(source, set()) if cid in self.awareness.states]
        if gone:
            self.awareness.remove_awareness_states(gone, origin)

    def forget_all(self, origin: str = "remote") -> None:
        for source in list(self._by_source):
            self.forget(source, origin)
