"""The default transport: a real websocket (the ``websockets`` library) to a hub over TCP or TLS."""

from __future__ import annotations

import asyncio
import socket
import ssl
from typing import Sequence

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI
from websockets.typing import Subprotocol

from collab.client.transport import BadFrame, ConnectFailed, FrameSocket, SocketClosed
from collab.protocol import close_codes

PING_INTERVAL_S = 20.0  # a hub that vanished without a FIN is noticed within ping interval + timeout
PING_TIMEOUT_S = 20.0


class WebsocketsTransport:
    def __init__(self, *, max_size: int | None = None, open_timeout: float = 10.0) -> None:
        self.max_size = max_size  # largest frame accepted from the hub (None: any)
        self.open_timeout = open_timeout

    async def connect(self, url: str, subprotocols: Sequence[str] = ()) -> FrameSocket:
        try:
            ws = await connect(
                url,
                subprotocols=[Subprotocol(p) for p in subprotocols] or None,
                max_size=self.max_size,
                open_timeout=self.open_timeout,
                ping_interval=PING_INTERVAL_S,
                ping_timeout=PING_TIMEOUT_S,
            )
        except InvalidURI as exc:
            raise ConnectFailed(f"not a websocket address: {exc}", permanent=True) from None
        except InvalidStatus as exc:
            raise ConnectFailed(connect_failure(exc), status=exc.response.status_code) from None
        except (OSError, InvalidHandshake, asyncio.TimeoutError) as exc:
            raise ConnectFailed(connect_failure(exc)) from None
        return WebsocketSocket(ws)


class WebsocketSocket:
    def __init__(self, ws: ClientConnection) -> None:
        self._ws = ws

    @property
    def subprotocol(self) -> str | None:
        return self._ws.subprotocol

    @property
    def close_code(self) -> int | None:
        received = self._ws.protocol.close_rcvd
        return received.code if received is not None else None

    @property
    def close_reason(self) -> str:
        received = self._ws.protocol.close_rcvd
        return received.reason if received is not None else ""

    async def send(self, frame: bytes) -> None:
        try:
            await self._ws.send(frame)
        except ConnectionClosed as exc:
            raise _closed(exc) from None

    async def recv(self) -> bytes:
        try:
            data = await self._ws.recv()
        except ConnectionClosed as exc:
            raise _closed(exc) from None
        if isinstance(data, str):
            raise BadFrame("the hub sent a text frame")
        return data

    async def drain(self) -> None:
        """Wait until the socket's write buffer is empty: the bytes are with the OS, not with us."""
        transport = self._ws.transport
        while transport is not None and not transport.is_closing() and transport.get_write_buffer_size():
            await asyncio.sleep(0.005)

    async def close(self, code: int = close_codes.NORMAL, reason: str = "") -> None:
        await self._ws.close(code, reason)


def _closed(exc: ConnectionClosed) -> SocketClosed:
    return SocketClosed(exc.rcvd.code, exc.rcvd.reason) if exc.rcvd is not None else SocketClosed(None)


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
