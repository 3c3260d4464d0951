"""Presence in an encrypted room: ours sealed under the room's awareness key, peers' opened and checked.

Presence is sealed like any envelope but not signed (read-only members send it too), and numbered
per session so the replay guard can refuse an old one the hub plays again. Peers' states are
read defensively (``collab.client.presence``), by the hub connection they came from, and
forgotten when the hub says that connection left.
"""

from __future__ import annotations

from typing import Callable

import pycrdt

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


def _peer(conn_id: int) -> str:
    return f"connection {conn_id}"
