"""What every room provider offers, whichever wire protocol it speaks.

A provider keeps one ``pycrdt.Doc`` and one ``pycrdt.Awareness`` in sync with one room of a hub, and
owns reconnection: it retries with exponential backoff and jitter, keeps local edits made while
offline and sends them when it is back (the loop is ``collab.client.connector.Connector``). Two
implementations: ``collab.client.plaintext.PlaintextProvider`` (standard y-websocket) and
``collab.client.encrypted.EncryptedProvider`` (the end-to-end encrypted relay protocol).

Besides the document and presence, a provider carries direct messages (``collab.client.direct``):
a JSON object for one peer, addressed by its Yjs client id, that the hub relays to that peer alone
and never stores (inline completions' replies, docs/protocol.md).
"""

from __future__ import annotations

import asyncio
from enum import Enum
from typing import Any, Callable, Protocol

import pycrdt

from collab.client.direct import DirectHandler


class Status(str, Enum):
    CONNECTING = "connecting"
    CONNECTED = "connected"  # synced with the hub; nothing of ours is waiting
    OFFLINE = "offline"  # lost the hub; retrying; local edits are kept
    CLOSED = "closed"


class ProviderError(RuntimeError):
    """A failure that retrying will not fix (wrong key, room missing, refused): carries a clear message."""


class Provider(Protocol):
    doc: pycrdt.Doc[Any]
    awareness: pycrdt.Awareness

    @property
    def synced(self) -> asyncio.Event:
        """Set after the first full sync with the hub."""
        ...

    @property
    def status(self) -> Status: ...

    @property
    def fatal(self) -> ProviderError | None:
        """Why the provider stopped for good; None while it is alive or retrying."""
        ...

    @property
    def pending(self) -> int:
        """Local changes not yet acknowledged by the hub (0 when everything is durable there)."""
        ...

    @property
    def refused(self) -> list[str]:
        """Our own changes the hub refused for good, one line each (empty where the protocol has no refusal)."""
        ...

    async def start(self, timeout: float | None = None) -> None:
        """Connect and wait for the first sync; raise ProviderError with the reason at the first
        failure (refused, certificate, HTTP status, final close) or when ``timeout`` runs out."""
        ...

    async def stop(self, timeout: float = 5.0) -> None:
        """Send what is pending (bounded wait), leave the room, close."""
        ...

    async def wait_idle(self) -> None:
        """Until connected with nothing of ours waiting; raises ProviderError once the provider ended."""
        ...

    async def confirm(self, timeout: float = 10.0) -> bool:
        """True once the hub shows it has stored every change of ours (False: it does not, in time)."""
        ...

    def send_direct(self, peer: int, message: dict[str, Any]) -> None:
        """Send ``message`` (a JSON object) to the participant whose Yjs client id is ``peer``, and to
        no one else. Best effort and never blocking: dropped when not connected or ``peer`` is not
        known; the hub paces each (sender, addressee) pair and relays only the latest waiting."""
        ...

    def on_direct(self, callback: DirectHandler) -> Callable[[], None]:
        """Call ``callback(sender's Yjs client id, message)`` for each direct message to us (what is
        not a JSON object, or too big or deep, is dropped like a bad presence state); returns a
        function that unsubscribes."""
        ...
