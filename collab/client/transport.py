"""The seam between a provider and the network: ``connect(url, subprotocols)`` returns a frame socket.

In the spirit of httpx transports: a provider speaks its room protocol to a ``FrameSocket`` and
never imports a websocket library. ``collab.client.ws_transport.WebsocketsTransport`` (the default)
talks to a real hub over TCP; ``collab.client.memory_transport.MemoryTransport`` hands frames to a
hub application in the same process, so clients can be tested without sockets.

A transport turns its library's errors into the three below, so the connection loop
(``collab.client.connector``) classifies failures the same way whatever carries the frames.
"""

from __future__ import annotations

from typing import Protocol, Sequence

from collab.protocol import close_codes


class ConnectFailed(Exception):
    """No connection was opened; the message says why in words a person can act on."""

    def __init__(self, message: str, *, status: int | None = None, permanent: bool = False) -> None:
        super().__init__(message)
        self.status = status  # the HTTP status the hub answered the upgrade with, if it answered one
        self.permanent = permanent  # retrying the same address cannot help (not a websocket URL)


class SocketClosed(Exception):
    """The connection is closed; ``code`` and ``reason`` are from the peer's close frame (None: none came)."""

    def __init__(self, code: int | None, reason: str = "") -> None:
        self.code = code
        self.reason = reason
        super().__init__(describe_close(code, reason))


class BadFrame(Exception):
    """The peer sent a frame no room protocol uses (a text frame): reconnect."""


class FrameSocket(Protocol):
    """One open connection that carries binary frames."""

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol the hub chose from the ones offered (None: plain y-websocket)."""
        ...

    @property
    def close_code(self) -> int | None:
        """The code of the close frame received, once closed; None while open or when none came."""
        ...

    @property
    def close_reason(self) -> str: ...

    async def send(self, frame: bytes) -> None:
        """Send one binary frame; raises SocketClosed when the connection is gone."""
        ...

    async def recv(self) -> bytes:
        """The next binary frame; raises SocketClosed at the end, BadFrame for a text frame."""
        ...

    async def drain(self) -> None:
        """Wait until what was sent has left this process (handed to the OS or to the peer)."""
        ...

    async def close(self, code: int = close_codes.NORMAL, reason: str = "") -> None:
        """Close (idempotent); returns once the closing handshake is done or has timed out."""
        ...


class Transport(Protocol):
    async def connect(self, url: str, subprotocols: Sequence[str] = ()) -> FrameSocket:
        """Open a connection to ``url`` offering ``subprotocols``; raises ConnectFailed."""
        ...


def close_message(message: str, code: int, reason: str) -> str:
    return f"{message} (close {code}{': ' + reason if reason else ''})"


def describe_close(code: int | None, reason: str) -> str:
    if code is None:
        return "the connection dropped without a close frame"
    return close_message("the hub closed the connection", code, reason)
