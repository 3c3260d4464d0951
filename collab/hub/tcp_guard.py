"""The TCP side of admission: a cap on open connections below the fd limit, and a deadline for the request.

uvicorn takes every connection the kernel hands it and waits for its request for as long as the
peer likes: 1,200 sockets that never finished an upgrade stayed open, and once the process ran out
of file descriptors accept() failed (asyncio logs every failure: 32,000 lines) and /healthz went
unanswered. Here every connection is counted from accept to close. Past ``max_open`` a new one is
answered 503 and closed at once (accepting it took a descriptor for a moment, which the margin
below the limit leaves, see ``collab.hub.admission.connection_limits``). One whose HTTP request (for
a websocket, its upgrade) has not arrived ``handshake_s`` after the accept is answered 408 and closed.

The websocket caps per client address are the app's (``collab.hub.admission``): behind a proxy
only the app knows the client's address, here every connection comes from the proxy.

This hooks uvicorn's h11 and websockets-sansio protocols, the ones ``collab serve`` runs: the HTTP
protocol sees the accept and the request, the websocket protocol it hands the socket to sees the
close. Nothing else in the hub depends on them; an app served another way has its own caps only.
"""

from __future__ import annotations

import asyncio
import logging

from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from collab.hub.log_limit import LogLimit
from collab.hub.read_ahead import ReadAheadWebsocket

log = logging.getLogger(__name__)


def _answer(status: str, text: str, *extra: str) -> bytes:
    body = text.encode() + b"\n"
    head = [f"HTTP/1.1 {status}", "content-type: text/plain; charset=utf-8", f"content-length: {len(body)}",
            "connection: close", *extra]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


FULL = _answer("503 Service Unavailable", "the hub is at its connection limit; try again later", "retry-after: 5")
TOO_SLOW = _answer("408 Request Timeout", "no request in time")


class TcpGuard:
    def __init__(self, *, max_open: int, handshake_s: float) -> None:
        self.max_open = max_open
        self.handshake_s = handshake_s
        self._open: set[asyncio.BaseTransport] = set()
        # Connections whose request has not arrived, by deadline (insertion order: one timeout for all).
        self._waiting: dict[asyncio.BaseTransport, float] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._log = LogLimit()

    @property
    def open(self) -> int:
        return len(self._open)

    def opened(self, transport: asyncio.BaseTransport) -> bool:
        """Count a new connection; False if it is one too many (then it is not counted)."""
        if len(self._open) >= self.max_open:
            self._log.log(log, logging.WARNING, "full", "refusing connections: %d open, the limit", len(self._open))
            return False
        self._open.add(transport)
        loop = asyncio.get_running_loop()
        self._waiting[transport] = loop.time() + self.handshake_s
        if self._timer is None:
            self._timer = loop.call_later(min(1.0, self.handshake_s / 4), self._sweep)
        return True

    def request_arrived(self, transport: asyncio.BaseTransport) -> None:
        self._waiting.pop(transport, None)

    def closed(self, transport: asyncio.BaseTransport) -> None:
        self._open.discard(transport)
        self._waiting.pop(transport, None)

    def _sweep(self) -> None:
        self._timer = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        while self._waiting:
            transport, deadline = next(iter(self._waiting.items()))
            if deadline > now:
                break
            del self._waiting[transport]
            self._log.log(log, logging.INFO, "slow", "closing a connection that sent no request in %g s", self.handshake_s)
            if isinstance(transport, asyncio.WriteTransport) and not transport.is_closing():
                transport.write(TOO_SLOW)
            transport.close()
        if self._waiting:
            self._timer = loop.call_later(min(1.0, self.handshake_s / 4), self._sweep)


def guarded_protocols(guard: TcpGuard) -> tuple[type[H11Protocol], type[WebSocketsSansIOProtocol]]:
    """uvicorn's HTTP and websocket protocol classes, reporting to ``guard`` (for uvicorn.Config)."""

    class GuardedHttp(H11Protocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if not guard.opened(transport):
                transport.write(FULL)
                transport.close()

        def handle_events(self) -> None:
            super().handle_events()
            if self.scope is not None:  # set by the first complete request (an upgrade too)
                guard.request_arrived(self.transport)

        def connection_lost(self, exc: Exception | None) -> None:
            guard.closed(self.transport)
            super().connection_lost(exc)

    class GuardedWebsocket(ReadAheadWebsocket):
        # It takes over an HTTP connection at the upgrade: the HTTP protocol hears no close after that.
        def connection_lost(self, exc: Exception | None) -> None:
            guard.closed(self.transport)
            super().connection_lost(exc)

    return GuardedHttp, GuardedWebsocket
