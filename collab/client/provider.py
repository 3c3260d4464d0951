"""What every room provider offers, whichever wire protocol it speaks.

A provider keeps one ``pycrdt.Doc`` and one ``pycrdt.Awareness`` in sync with one room of a hub, and
owns reconnection: it retries with exponential backoff and jitter, keeps local edits made while
offline and sends them when it is back. Two implementations:
``collab.client.plaintext.PlaintextProvider`` (standard y-websocket) and
``collab.client.encrypted.EncryptedProvider`` (the end-to-end encrypted relay protocol).
"""

from __future__ import annotations

import asyncio
from enum import Enum
from typing import Protocol

import pycrdt


class Status(str, Enum):
    CONNECTING = "connecting"
    CONNECTED = "connected"  # synced with the hub; nothing of ours is waiting
    OFFLINE = "offline"  # lost the hub; retrying; local edits are kept
    CLOSED = "closed"


class ProviderError(RuntimeError):
    """A failure that retrying will not fix (wrong key, room missing, refused): carries a clear message."""


class Provider(Protocol):
    doc: pycrdt.Doc
    awareness: pycrdt.Awareness
    synced: asyncio.Event  # set after the first full sync with the hub
    status: Status

    async def start(self) -> None:
        """Connect and wait for the first sync; raise ProviderError if the hub refuses us for good."""
        ...

    async def stop(self) -> None:
        """Send what is pending (bounded wait), leave the room, close."""
        ...

    @property
    def pending(self) -> int:
        """Local changes not yet acknowledged by the hub (0 when everything is durable there)."""
        ...
