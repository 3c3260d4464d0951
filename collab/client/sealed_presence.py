"""Presence in an encrypted room: ours sealed under the room's awareness key, peers' opened and checked.

Presence is sealed like any envelope but not signed (read-only members send it too), and numbered
per session so the replay guard can refuse an old one the hub plays again. Peers' states are
read defensively (``collab.client.presence``), by the hub connection they came from, and
forgotten when the hub says that connection left.

Direct messages (``SealedDirect``, docs/protocol.md "Direct messages") are sealed the same way,
AWARENESS envelopes under the current epoch's key, but from a session id and counter of their own:
the hub paces each (sender, addressee) pair apart from the sender's presence, so a direct message
and a presence update can arrive in either order, and one counter would make the later-sealed of
the two look like a replay. A peer is addressed by the connection its presence came from, and a
received one is from the client id that connection's presence speaks for.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Callable

import pycrdt

from collab.client.direct import DirectError, DirectMessages
from collab.client.presence import Refused, RemotePresence
from collab.client.rejections import Rejection
from collab.crypto.epochs import Keyring
from collab.protocol import relay_frames as frames
from collab.protocol import yjs
from collab.protocol.envelope import (
    EnvelopeError,
    EnvelopeType,
    new_author_id,
    open_envelope,
    seal_awareness,
)
from collab.protocol.replay_guard import ReplayGuard

Reject = Callable[[Rejection, str], None]  # (what was dropped, from which peer)


class SealedPresence:
    def __init__(self, keyring: Keyring, awareness: pycrdt.Awareness, guard: ReplayGuard, reject: Reject) -> None:
        self.keyring = keyring  # sealed under the current epoch's awareness key
        self.awareness = awareness
        self.guard = guard
        self.reject = reject
        self.remote = RemotePresence(awareness, self._refused)
        self.outgoing: bytes | None = None  # only the newest of our presence frames matters
        self._session_id = new_author_id()  # its own id, so its counter is independent of updates
        self._counter = 0

    def seal_local(self) -> None:
        """Seal our current state as the next AWARENESS frame to send."""
        self._counter += 1
        update = self.awareness.encode_awareness_update([self.awareness.client_id])
        self.outgoing = frames.awareness(seal_awareness(self.keyring.current, self._session_id, self._counter, update))

    def take(self) -> bytes | None:
        frame, self.outgoing = self.outgoing, None
        return frame

    def received(self, conn_id: int, envelope: bytes) -> None:
        """A peer's presence relayed by the hub from its connection ``conn_id``."""
        try:
            opened = open_envelope(self.keyring.current, envelope)
            if opened.type is not EnvelopeType.AWARENESS:
                raise EnvelopeError(f"a {opened.type.name.lower()} envelope relayed as presence")
            self.guard.check(opened)
            self.remote.apply(opened.plaintext, conn_id)
        except (EnvelopeError, yjs.ProtocolError) as exc:
            self.reject(Rejection(None, "awareness", type(exc).__name__, str(exc)), _peer(conn_id))

    def left(self, conn_id: int) -> None:
        self.remote.forget(conn_id)

    def disconnected(self) -> None:
        self.remote.forget_all()

    def _refused(self, refused: Refused, conn_id: int) -> None:
        message = f"state of client {refused.client_id} dropped: {refused.reason}"
        self.reject(Rejection(None, "awareness", "PresenceError", message), _peer(conn_id))


class SealedDirect:
    """Direct messages in an encrypted room: sealed to DIRECT frames, DIRECT_RELAY frames opened."""

    MAX_WAITING = 256  # addressees with a frame waiting for the send loop (only each one's latest)

    def __init__(self, keyring: Keyring, remote: RemotePresence, reject: Reject, wake: Callable[[], None]) -> None:
        self.keyring = keyring
        self.remote = remote  # whose connection is whose: the presence we hold
        self.reject = reject
        self.wake = wake  # the send loop has something to send
        self.channel = DirectMessages(self._seal)
        self.live = False  # a connection is up: frames sealed now can go
        self.outgoing: OrderedDict[int, bytes] = OrderedDict()  # addressee conn_id -> its latest frame
        self._session_id = new_author_id()
        self._counter = 0
        self._guard = ReplayGuard()  # per sender session: its own, apart from presence's

    def _seal(self, peer: int, payload: bytes) -> bool:
        conn_id = self.remote.source_of(peer) if self.live else None
        if conn_id is None:
            return False
        if conn_id not in self.outgoing and len(self.outgoing) >= self.MAX_WAITING:
            return False
        self._counter += 1
        envelope = seal_awareness(self.keyring.current, self._session_id, self._counter, payload)
        # A direct message is state: a newer one for the same addressee replaces one not yet sent.
        self.outgoing.pop(conn_id, None)
        self.outgoing[conn_id] = frames.direct(conn_id, envelope)
        self.wake()
        return True

    def take(self) -> list[bytes]:
        out = list(self.outgoing.values())
        self.outgoing.clear()
        return out

    def disconnected(self) -> None:
        self.live = False
        self.outgoing.clear()  # addressed to connections of a session that ended: stale

    def received(self, conn_id: int, envelope: bytes) -> None:
        """A peer's direct message relayed by the hub from its connection ``conn_id``."""
        try:
            opened = open_envelope(self.keyring.current, envelope)
            if opened.type is not EnvelopeType.AWARENESS:
                raise EnvelopeError(f"a {opened.type.name.lower()} envelope relayed as a direct message")
            sender = self.remote.client_of(conn_id)
            if sender is None:
                return  # its presence has not reached us (or it left): nobody to say it is from
            self._guard.check(opened)  # not above the last from that session: a replay
            self.channel.received(sender, opened.plaintext)
        except (EnvelopeError, DirectError) as exc:
            self.reject(Rejection(None, "direct", type(exc).__name__, str(exc)), _peer(conn_id))


def _peer(conn_id: int) -> str:
    return f"connection {conn_id}"
