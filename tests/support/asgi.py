"""Serve an ASGI app (a hub from ``create_app``) inside the test's event loop: no process, no socket.

``running(app)`` runs its lifespan (the hub starts its store and broker); ``MemoryWebsocket``
is one client connection, ``http(app)`` an httpx client for its HTTP routes (/metrics).

A MemoryWebsocket behaves like a TCP connection as the hub sees it through uvicorn: frames the hub
sends wait in the client's buffer until ``recv`` takes them, and once ``window`` bytes wait there the
hub's next send (close frames included) blocks until the client reads, as uvicorn's sends wait for
its transport to be writable. A client that stops calling ``recv`` is a client that stopped reading.
The hub can drop the connection outright (collab.hub.abort finds ``transport.abort`` next to
``send``): unread frames are lost then, as with a TCP reset.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import deque
from typing import Any, AsyncIterator, Sequence

import httpx
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_ports = itertools.count(40000)


class Closed(Exception):
    """The connection is closed: ``code`` from the hub's close frame, or None when it was dropped."""

    def __init__(self, code: int | None, reason: str = "") -> None:
        super().__init__(f"closed with {code}: {reason}" if code is not None else "dropped without a close frame")
        self.code = code
        self.reason = reason


class Refused(Exception):
    """The hub closed the websocket before accepting it (a browser sees HTTP 403)."""


@contextlib.asynccontextmanager
async def running(app: ASGIApp) -> AsyncIterator[None]:
    """Run ``app``'s lifespan: startup before the block, shutdown after it."""
    to_app: asyncio.Queue[Message] = asyncio.Queue()
    from_app: asyncio.Queue[Message] = asyncio.Queue()
    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    task = asyncio.create_task(_call(app, scope, to_app.get, from_app.put))
    await to_app.put({"type": "lifespan.startup"})
    started = await from_app.get()
    if started["type"] != "lifespan.startup.complete":
        await task
        raise RuntimeError(f"app did not start: {started}")
    try:
        yield
    finally:
        await to_app.put({"type": "lifespan.shutdown"})
        await from_app.get()
        await task


async def _call(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    await app(scope, receive, send)


def http(app: ASGIApp) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost")


async def scrape(client: httpx.AsyncClient) -> dict[str, float]:
    """The app's /metrics as sample name -> value (labels omitted: the tests here read plain ones)."""
    values: dict[str, float] = {}
    for line in (await client.get("/metrics")).text.splitlines():
        if line and not line.startswith("#") and "{" not in line:
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


class _Transport:
    """What collab.hub.abort looks for on ``send.__self__``: a transport with ``abort``."""

    def __init__(self, ws: "MemoryWebsocket") -> None:
        self._ws = ws

    def abort(self) -> None:
        self._ws._dropped()


class MemoryWebsocket:
    def __init__(
        self, app: ASGIApp, path: str, *, subprotocols: Sequence[str] = (), window: int = 1 << 20,
        headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        self.app = app
        self.path = path
        self.subprotocols = list(subprotocols)
        self.window = window
        self.headers = [(b"host", b"localhost"), *((k.lower().encode(), v.encode()) for k, v in headers)]
        self.transport = _Transport(self)
        self.subprotocol: str | None = None
        self.closed: Closed | None = None  # set once the hub closed or dropped the connection
        self._to_app: asyncio.Queue[Message] = asyncio.Queue()
        self._inbox: deque[bytes | str | Closed] = deque()
        self._buffered = 0
        self._changed = asyncio.Condition()
        self._accepted = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._hung_up = False

    # -- the client's side ------------------------------------------------------------------------

    async def __aenter__(self) -> "MemoryWebsocket":
        scope: dict[str, Any] = {
            "type": "websocket", "asgi": {"version": "3.0"}, "scheme": "ws", "http_version": "1.1",
            "path": self.path, "raw_path": self.path.encode(), "query_string": b"", "root_path": "",
            "headers": self.headers, "client": ("127.0.0.1", next(_ports)), "server": ("localhost", 80),
            "subprotocols": self.subprotocols, "state": {},
        }
        self._task = asyncio.create_task(_call(self.app, scope, self._receive, self._send))
        await self._to_app.put({"type": "websocket.connect"})
        accepted = asyncio.create_task(self._accepted.wait())
        await asyncio.wait([accepted, self._task], return_when=asyncio.FIRST_COMPLETED)
        if not self._accepted.is_set():
            accepted.cancel()
            await self._task
            raise Refused(self.path)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if not self._hung_up and self.closed is None:
            self._hang_up(1000)
        assert self._task is not None
        await asyncio.wait_for(self._task, 10)

    async def send(self, frame: bytes | str) -> None:
        if self.closed is not None:
            raise self.closed
        key = "bytes" if isinstance(frame, bytes) else "text"
        await self._to_app.put({"type": "websocket.receive", key: frame})

    async def recv(self) -> bytes | str:
        """The next frame the hub sent; raises Closed after the last one."""
        async with self._changed:
            await self._changed.wait_for(lambda: bool(self._inbox))
            item = self._inbox[0]
            if isinstance(item, Closed):
                raise item  # stays there: every later recv raises it too
            self._inbox.popleft()
            self._buffered -= len(item)
            self._changed.notify_all()
            return item

    async def recv_bytes(self) -> bytes:
        frame = await self.recv()
        assert isinstance(frame, bytes), frame
        return frame

    async def close(self, code: int = 1000) -> None:
        self._hang_up(code)

    def _hang_up(self, code: int) -> None:
        """The client closes: the app hears a disconnect, and its sends fail from now on."""
        self._hung_up = True
        self._to_app.put_nowait({"type": "websocket.disconnect", "code": code})
        self._poke()

    def _poke(self) -> None:
        async def notify() -> None:
            async with self._changed:
                self._changed.notify_all()

        asyncio.get_running_loop().create_task(notify())

    # -- the server's side (what the app's receive and send reach) ----------------------------------

    async def _receive(self) -> Message:
        return await self._to_app.get()

    async def _send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "websocket.accept":
            self.subprotocol = message.get("subprotocol")
            self._accepted.set()
            return
        if not self._accepted.is_set():
            if kind == "websocket.close":
                return  # refused before accept: __aenter__ sees the app end without accepting
            raise RuntimeError(f"{kind} before websocket.accept")
        async with self._changed:
            # Like uvicorn: every send waits until the transport is writable again.
            await self._changed.wait_for(
                lambda: self._buffered < self.window or self.closed is not None or self._hung_up
            )
            if self._hung_up or (self.closed is not None and self.closed.code is None):
                raise OSError("the client is gone")
            if self.closed is not None:
                return  # after a close frame uvicorn ignores further sends
            if kind == "websocket.send":
                frame: bytes | str = message["bytes"] if message.get("bytes") is not None else message["text"]
                self._inbox.append(frame)
                self._buffered += len(frame)
            elif kind == "websocket.close":
                self.closed = Closed(message.get("code", 1000), message.get("reason") or "")
                self._inbox.append(self.closed)
                self._to_app.put_nowait({"type": "websocket.disconnect", "code": self.closed.code})
            else:
                raise RuntimeError(f"unexpected ASGI message {kind}")
            self._changed.notify_all()

    def _dropped(self) -> None:
        """The hub aborted the transport. What it had handed over up to a close frame still arrives;
        without one, unread frames are lost. The app hears a disconnect, its sends fail."""
        if self.closed is not None:
            return
        self.closed = Closed(None)
        self._inbox.clear()
        self._inbox.append(self.closed)
        self._buffered = 0
        self._to_app.put_nowait({"type": "websocket.disconnect", "code": 1006})
        self._poke()
