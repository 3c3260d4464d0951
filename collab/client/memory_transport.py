"""A transport that hands frames to an ASGI app in this process: a hub without sockets.

    app = create_app(settings, store=store, broker=MemoryBroker())
    async with MemoryTransport.serving(app) as transport:        # runs the app's lifespan
        provider = PlaintextProvider("ws://127.0.0.1/ws/room", transport=transport)

Each ``connect`` runs the app's websocket handler as a task and speaks ASGI to it directly (the
messages uvicorn would send and receive), so in-process tests exercise the real hub code, and
the same provider code as over TCP, with no port, thread or subprocess. Like uvicorn, a close
before the accept reads as an HTTP 403 (a denial response as its status), and with ``max_frame_bytes`` a larger client frame is
answered with close TOO_BIG.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from typing import Any, AsyncIterator, Sequence
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message

from collab.client.transport import BadFrame, ConnectFailed, FrameSocket, SocketClosed
from collab.protocol import close_codes

_ASGI = {"version": "3.0", "spec_version": "2.3"}
_ports = itertools.count(40000)


class MemoryTransport:
    def __init__(self, app: ASGIApp, *, max_frame_bytes: int | None = None, handshake_timeout: float = 10.0) -> None:
        self.app = app
        self.max_frame_bytes = max_frame_bytes  # like uvicorn's ws_max_size: larger frames get close TOO_BIG
        self.handshake_timeout = handshake_timeout
        self.sockets: list[MemorySocket] = []  # every connection made, open or closed

    @classmethod
    @contextlib.asynccontextmanager
    async def serving(cls, app: ASGIApp, **options: Any) -> AsyncIterator["MemoryTransport"]:
        """Run the app's lifespan (startup before, shutdown after) around a transport to it."""
        transport = cls(app, **options)
        async with lifespan(app):
            try:
                yield transport
            finally:
                for sock in transport.sockets:
                    await sock.close(close_codes.GOING_AWAY)

    async def connect(self, url: str, subprotocols: Sequence[str] = ()) -> FrameSocket:
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "wss"):
            raise ConnectFailed(f"not a websocket address: {url}", permanent=True)
        host = parts.hostname or "hub"
        port = parts.port or (443 if parts.scheme == "wss" else 80)
        scope: dict[str, Any] = {
            "type": "websocket",
            "asgi": _ASGI,
            "http_version": "1.1",
            "scheme": parts.scheme,
            "path": parts.path or "/",
            "raw_path": (parts.path or "/").encode(),
            "query_string": parts.query.encode(),
            "root_path": "",
            "headers": [(b"host", (parts.netloc or host).encode())]
            + ([(b"sec-websocket-protocol", ", ".join(subprotocols).encode())] if subprotocols else []),
            "client": ("127.0.0.1", next(_ports)),
            "server": (host, port),
            "subprotocols": list(subprotocols),
            "state": {},
            "extensions": {"websocket.http.response": {}},  # the hub may refuse with an HTTP status
        }
        sock = MemorySocket(self.app, scope, self.max_frame_bytes)
        self.sockets.append(sock)
        await sock.open(self.handshake_timeout)
        return sock


class MemorySocket:
    """Both ends of one in-process websocket: the client's FrameSocket and the app's receive/send."""

    def __init__(self, app: ASGIApp, scope: dict[str, Any], max_frame_bytes: int | None) -> None:
        self._app = app
        self._scope = scope
        self._max = max_frame_bytes
        self._to_app: asyncio.Queue[Message] = asyncio.Queue()
        self._to_client: asyncio.Queue[bytes | str | None] = asyncio.Queue()  # None: closed
        self._accepted = asyncio.Event()
        self._denied: int | None = None  # the HTTP status of a refusal (the denial response extension)
        self._task: asyncio.Task[None] | None = None
        self._subprotocol: str | None = None
        self._closed = False
        self._close_code: int | None = None
        self._close_reason = ""
        # Where collab.hub.abort looks for the server's transport: the hub can drop us outright.
        self.transport = _Abort(self)

    # -- the client's side (FrameSocket) ---------------------------------------------------------

    @property
    def subprotocol(self) -> str | None:
        return self._subprotocol

    @property
    def close_code(self) -> int | None:
        return self._close_code if self._closed else None

    @property
    def close_reason(self) -> str:
        return self._close_reason

    async def open(self, timeout: float) -> None:
        self._to_app.put_nowait({"type": "websocket.connect"})
        self._task = asyncio.create_task(self._serve(), name=f"memory-hub {self._scope['path']}")
        accepted = asyncio.create_task(self._accepted.wait())
        try:
            await asyncio.wait({accepted, self._task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            accepted.cancel()
        if not self._accepted.is_set():
            if not self._closed and self._denied is None:
                await self.close(close_codes.GOING_AWAY)
                raise ConnectFailed("no answer (timed out)")
            status = self._denied or 403  # a close before the accept is a 403, as uvicorn answers it
            raise ConnectFailed(f"the hub answered HTTP {status}", status=status)

    async def send(self, frame: bytes) -> None:
        if self._closed:
            raise SocketClosed(self._close_code, self._close_reason)
        if self._max is not None and len(frame) > self._max:
            # What uvicorn does with a frame over its ws_max_size: close TOO_BIG, the app sees a disconnect.
            self._end(close_codes.TOO_BIG, "frame exceeds limit")
            raise SocketClosed(self._close_code, self._close_reason)
        self._to_app.put_nowait({"type": "websocket.receive", "bytes": bytes(frame)})

    async def recv(self) -> bytes:
        if self._closed and self._to_client.empty():
            raise SocketClosed(self._close_code, self._close_reason)
        data = await self._to_client.get()
        if data is None:
            self._to_client.put_nowait(None)  # every later recv ends the same way
            raise SocketClosed(self._close_code, self._close_reason)
        if isinstance(data, str):
            raise BadFrame("the hub sent a text frame")
        return data

    def drop(self, code: int = close_codes.GOING_AWAY, reason: str = "") -> None:
        """The connection ends from outside (the network, or the hub's server): both ends hear ``code``."""
        self._end(code, reason)

    async def drain(self) -> None:
        await asyncio.sleep(0)  # nothing is buffered: the app's queue already holds it

    async def close(self, code: int = close_codes.NORMAL, reason: str = "") -> None:
        self._end(code, reason)
        task = self._task
        if task is not None and not task.done():
            try:
                await asyncio.wait_for(asyncio.shield(task), 5)
            except asyncio.TimeoutError:
                task.cancel()
            except Exception:
                pass  # the app's failure is its own; _serve has recorded the close

    def _end(self, code: int | None, reason: str) -> None:
        """The connection closes with ``code`` (either side's); both ends hear of it once."""
        if self._closed:
            return
        self._closed, self._close_code, self._close_reason = True, code, reason
        self._to_client.put_nowait(None)
        gone = code if code is not None else close_codes.GOING_AWAY  # the app only learns that we are gone
        self._to_app.put_nowait({"type": "websocket.disconnect", "code": gone, "reason": reason})

    # -- the app's side (ASGI) -------------------------------------------------------------------

    async def _serve(self) -> None:
        try:
            await self._app(self._scope, self._receive, self._send)
        except Exception:
            self._end(close_codes.INTERNAL, "")  # uvicorn answers an app's exception so
            raise
        self._end(close_codes.NORMAL, "")  # the handler returned: uvicorn closes the socket

    async def _receive(self) -> Message:
        return await self._to_app.get()

    async def _send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "websocket.accept":
            self._subprotocol = message.get("subprotocol")
            self._accepted.set()
        elif kind == "websocket.send":
            if self._closed:
                raise ConnectionResetError("the client has gone")  # what a server raises past a close
            data = message.get("bytes")
            self._to_client.put_nowait(data if data is not None else message.get("text", ""))
        elif kind == "websocket.close":
            self._end(message.get("code", close_codes.NORMAL), message.get("reason") or "")
        elif kind == "websocket.http.response.start":
            self._denied = int(message["status"])
        elif kind == "websocket.http.response.body" and not message.get("more_body"):
            self._end(close_codes.POLICY, "refused")


class _Abort:
    def __init__(self, sock: MemorySocket) -> None:
        self._sock = sock

    def abort(self) -> None:
        """A TCP reset: no close frame, so the client sees no close code."""
        self._sock._end(None, "")


@contextlib.asynccontextmanager
async def lifespan(app: ASGIApp) -> AsyncIterator[None]:
    """Run ``app``'s ASGI lifespan: startup before the block, shutdown after it."""
    inbox: asyncio.Queue[Message] = asyncio.Queue()
    replies: asyncio.Queue[Message] = asyncio.Queue()

    async def receive() -> Message:
        return await inbox.get()

    async def send(message: Message) -> None:
        replies.put_nowait(message)

    async def run() -> None:
        await app({"type": "lifespan", "asgi": _ASGI, "state": {}}, receive, send)

    task = asyncio.create_task(run())
    inbox.put_nowait({"type": "lifespan.startup"})
    reply = await replies.get()
    if reply["type"] != "lifespan.startup.complete":
        task.cancel()
        raise RuntimeError(f"the app did not start: {reply.get('message', reply['type'])}")
    try:
        yield
    finally:
        inbox.put_nowait({"type": "lifespan.shutdown"})
        await replies.get()
        await task
