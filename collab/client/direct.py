"""Direct messages on the client side: small JSON objects addressed to one peer (docs/protocol.md).

A direct message is ephemeral state for one participant, addressed by its Yjs client id: the hub
relays it to that participant's connection alone and stores nothing. Inline completions use it
(collab/ai/inline.py): each typist's completion goes to that typist only, paced per pair by the
hub, instead of riding in the agent's one presence state that everyone receives.

``DirectMessages`` is the part both providers share: encoding what is sent (compact JSON), reading
what comes in as defensively as a presence state (size, nesting depth without recursing, a JSON
object: ``collab.protocol.presence.check_state``) and handing it to whoever subscribed. The wire is
the provider's: y-websocket message type 100 in plaintext rooms
(``collab.client.plaintext``), sealed DIRECT / DIRECT_RELAY frames in encrypted ones
(``collab.client.sealed_presence.SealedDirect``).

Whoever answers or listens (an agent, a typist, an editor bridge) is handed the provider's
``send_direct`` / ``on_direct``: there is no lookup from an awareness to its provider.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Callable

from collab.protocol.presence import MAX_STATE_BYTES, PresenceError, check_state

log = logging.getLogger(__name__)

DirectHandler = Callable[[int, dict[str, Any]], None]  # (the sender's Yjs client id, the message)
Wire = Callable[[int, bytes], bool]  # (the addressee's Yjs client id, UTF-8 JSON): False if dropped

MAX_DIRECT_BYTES = MAX_STATE_BYTES  # like a presence state; the hub's --max-presence-bytes bounds it too


class DirectError(PresenceError):
    """A direct message this client will not hold (not a JSON object, too big, too deep)."""


def encode(message: dict[str, Any]) -> bytes:
    """A message as compact UTF-8 JSON; ValueError if it is not a JSON object or is too big."""
    if not isinstance(message, dict):
        raise ValueError(f"a direct message is a JSON object, not a {type(message).__name__}")
    payload = json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode()
    if len(payload) > MAX_DIRECT_BYTES:
        raise ValueError(f"a direct message of {len(payload):,} bytes is over the {MAX_DIRECT_BYTES:,}-byte limit")
    return payload


def decode(payload: bytes) -> dict[str, Any]:
    """A received payload as a JSON object, or DirectError with the reason (checked before parsing)."""
    try:
        text = check_state(payload)
    except PresenceError as exc:
        raise DirectError(str(exc).replace("state", "direct message", 1)) from None
    message = json.loads(text) if text else None
    if not isinstance(message, dict):
        raise DirectError("direct message is empty or null, not an object")
    return message


class DirectMessages:
    """One provider's direct messages: ``send`` through its wire, received ones to subscribers."""

    def __init__(self, wire: Wire) -> None:
        self._wire = wire
        self._handlers: dict[int, DirectHandler] = {}
        self._next = 0
        self.sent = 0  # handed to the wire
        self.dropped = 0  # not sent: not connected, or the addressee is unknown
        self.received_count = 0  # delivered to subscribers

    def send(self, peer: int, message: dict[str, Any]) -> None:
        """Best effort, never blocks: dropped when not connected or ``peer`` is not known here."""
        if self._wire(peer, encode(message)):
            self.sent += 1
        else:
            self.dropped += 1

    def subscribe(self, handler: DirectHandler) -> Callable[[], None]:
        """Call ``handler(sender, message)`` for each message received; returns the unsubscribe."""
        key = self._next
        self._next += 1
        self._handlers[key] = handler

        def unsubscribe() -> None:
            self._handlers.pop(key, None)

        return unsubscribe

    def received(self, sender: int, payload: bytes) -> None:
        """A peer's message from the wire; raises DirectError (the caller reports it) if unreadable."""
        message = decode(payload)
        self.received_count += 1
        for handler in list(self._handlers.values()):
            try:
                handler(sender, message)
            except Exception:  # one subscriber's bug must not stop the provider's receive loop
                log.exception("a direct message handler failed")
