"""What every room provider offers, whichever wire protocol it speaks.

A provider keeps one ``pycrdt.Doc`` and one ``pycrdt.Awareness`` in sync with one room of a hub, and
owns reconnection: it retries with exponential backoff and jitter, keeps local edits made while
offline and sends them when it is back. Two implementations:
``collab.client.plaintext.PlaintextProvider`` (standard y-websocket) and
``collab.client.encrypted.EncryptedProvider`` (the end-to-end encrypted relay protocol).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from enum import Enum
from typing import Protocol

import pycrdt
from websockets.exceptions import InvalidStatus


class Status(str, Enum):
    CONNECTING = "connecting"
    CONNECTED = "connected"  # synced with the hub; nothing of ours is waiting
    OFFLINE = "offline"  # lost the hub; retrying; local edits are kept
    CLOSED = "closed"


class ProviderError(RuntimeError):
    """A failure that retrying will not fix (wrong key, room missing, refused): carries a clear message."""


# Close codes that end a session for good whichever protocol it speaks: the hub would answer the
# same frame the same way every time (docs/protocol.md). Each provider adds its room codes (44xx).
FINAL_CLOSES = {
    1002: "the hub reported a protocol error",
    1003: "the hub refused a frame it cannot read",
    1008: "the hub refused this client (origin policy)",
    1009: "an edit is larger than the hub's frame limit (its --max-frame-bytes)",
}
# Close codes by which the hub asks us to come back later (shutting down, store unavailable).
RETRY_CLOSES = frozenset({1012, 1013})


def close_message(message: str, code: int, reason: str) -> str:
    return f"{message} (close {code}{': ' + reason if reason else ''})"


def connect_failure(exc: BaseException) -> str:
    """Why a connection attempt failed, in words a person can act on."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (
            f"TLS certificate verify failed: {exc.verify_message or exc} "
            "(for a private CA, set SSL_CERT_FILE to its root certificate)"
        )
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is the hub running at that address?)"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the hub's host name ({exc.strerror or exc})"
    if isinstance(exc, InvalidStatus):
        return f"the hub answered HTTP {exc.response.status_code}"
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return "no answer (timed out)"
    return str(exc) or type(exc).__name__


class Provider(Protocol):
    doc: pycrdt.Doc
    awareness: pycrdt.Awareness
    synced: asyncio.Event  # set after the first full sync with the hub
    status: Status
    fatal: ProviderError | None  # why the provider stopped for good; None while it is alive or retrying

    async def start(self, timeout: float | None = None) -> None:
        """Connect and wait for the first sync; raise ProviderError with the reason at the first
        failure (refused, certificate, HTTP status, final close) or when ``timeout`` runs out."""
        ...

    async def stop(self) -> None:
        """Send what is pending (bounded wait), leave the room, close."""
        ...

    @property
    def pending(self) -> int:
        """Local changes not yet acknowledged by the hub (0 when everything is durable there)."""
        ...
