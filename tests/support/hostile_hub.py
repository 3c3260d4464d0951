"""A hub stand-in that withholds and reorders: a proxy between clients and a real hub.

Clients use the proxy's address as they would the hub's: HTTP (the page, its scripts, the API) is
forwarded as it is; each websocket to ``/ws/{room}`` gets its own connection to the real hub
(``tests/support/hub_process.py``), frames copied both ways. A malicious hub can do no more than
this with an encrypted room's ENTRY frames: it holds no key, so it can only choose what each
client gets and when. The ``Tamper`` a test gives decides, per client connection, for each ENTRY
the hub sends: forward it now, hold it back until a later one has gone out, or drop it; it may also
tell the client other seqs than the hub's (``Relabel``: a fork) or a lower head (``Stale``).

Everything the clients sent (HELLO ``since``, snapshots whole or in parts) is recorded per connection, so a
test can see when a client asked again and what it compacted.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import AsyncIterator, Protocol

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from collab.protocol import relay_frames as frames
from collab.protocol.envelope import parse_envelope
from tests.support.ports import free_port

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "host"}


@dataclass
class Link:
    """One client connection through the proxy: what went each way, as the client saw it."""

    index: int  # 0 for the first websocket to the proxy, 1 for the next (a reconnect), ...
    hellos: list[frames.Hello] = field(default_factory=list)
    snapshots: list[tuple[float, int]] = field(default_factory=list)  # (monotonic time, ref covered)
    delivered: list[tuple[float, int]] = field(default_factory=list)  # (monotonic time, ENTRY seq)
    held: dict[int, bytes] = field(default_factory=dict)  # ENTRY seq -> frame, withheld for now
    relabel: dict[int, int] = field(default_factory=dict)  # ENTRY seq -> the seq the client is told
    head_cap: int | None = None  # SYNCED says at most this head (a hub hiding the rest of the log)
    published: int = 0  # PUBLISH frames the client sent
    acked: int = 0  # the highest seq the hub acknowledged to the client (its own entries)


class Tamper(Protocol):
    def __call__(self, link: Link, entry: frames.Entry) -> list[int]:
        """The ENTRY seqs to send the client now, in this order: ``entry.seq`` and any of
        ``link.held``. Whatever is not named stays held (``entry`` goes into ``link.held``)."""
        ...


def honest(link: Link, entry: frames.Entry) -> list[int]:
    return [entry.seq]


@dataclass
class Reorder:
    """Hold ENTRY ``k`` back until ENTRY ``after[k]`` has gone out, on the first ``connections``."""

    after: dict[int, int]
    connections: int = 1

    def __call__(self, link: Link, entry: frames.Entry) -> list[int]:
        if link.index >= self.connections:
            return [entry.seq]
        if entry.seq in self.after:
            return []
        out = [entry.seq]
        for held, trigger in self.after.items():
            if trigger == entry.seq and held in link.held:
                out.append(held)
        return out


@dataclass
class Withhold:
    """Never send the ENTRYs in ``seqs`` on the first ``connections`` (a reconnect gets them)."""

    seqs: set[int]
    connections: int = 1

    def __call__(self, link: Link, entry: frames.Entry) -> list[int]:
        if link.index < self.connections and entry.seq in self.seqs:
            return []
        return [entry.seq]


@dataclass
class Relabel:
    """Tell the client other seqs for some ENTRYs (``{3: 4, 4: 3}`` swaps two): the hub's numbering
    is not signed, so this is a different history under the same envelopes (a fork)."""

    seqs: dict[int, int]
    connections: int = 1

    def __call__(self, link: Link, entry: frames.Entry) -> list[int]:
        if link.index < self.connections:
            link.relabel = self.seqs
        return [entry.seq]


@dataclass
class Stale:
    """Show the client only the log up to ``upto`` (an old snapshot and its prefix) and say that is
    the head, on the first ``connections``: a hub serving a stale view."""

    upto: int
    connections: int = 1

    def __call__(self, link: Link, entry: frames.Entry) -> list[int]:
        if link.index >= self.connections:
            return [entry.seq]
        link.head_cap = self.upto
        return [entry.seq] if entry.seq <= self.upto else []


class HostileHub:
    def __init__(self, hub_url: str, tamper: Tamper = honest) -> None:
        self.hub_url = hub_url.rstrip("/")
        self.tamper = tamper
        self.links: list[Link] = []
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._http = httpx.AsyncClient(base_url=self.hub_url)
        app = Starlette(
            routes=[
                WebSocketRoute("/ws/{room}", self._websocket),
                Route("/{path:path}", self._forward, methods=["GET", "HEAD", "POST", "PUT", "DELETE"]),
            ]
        )
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://", 1)

    async def _forward(self, request: Request) -> Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        upstream = await self._http.request(
            request.method, request.url.path, params=request.query_params, headers=headers, content=await request.body()
        )
        out = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP}
        return Response(upstream.content, status_code=upstream.status_code, headers=out)

    async def _websocket(self, ws: WebSocket) -> None:
        link = Link(len(self.links))
        self.links.append(link)
        room = ws.path_params["room"]
        offered = [p.strip() for p in ws.headers.get("sec-websocket-protocol", "").split(",") if p.strip()]
        upstream_url = self.hub_url.replace("http://", "ws://", 1) + f"/ws/{room}"
        async with connect(upstream_url, subprotocols=[Subprotocol(p) for p in offered], max_size=None) as hub:
            await ws.accept(subprotocol=hub.subprotocol)
            up = asyncio.create_task(self._client_to_hub(ws, hub, link))
            down = asyncio.create_task(self._hub_to_client(ws, hub, link))
            await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
            for task in (up, down):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        with contextlib.suppress(Exception):
            await ws.close()

    async def _client_to_hub(self, ws: WebSocket, hub: ClientConnection, link: Link) -> None:
        parts: dict[int, bytes] = {}  # client_ref -> SNAPSHOT_PART chunks so far
        with contextlib.suppress(WebSocketDisconnect, ConnectionClosed):
            while True:
                data = await ws.receive_bytes()
                with contextlib.suppress(frames.ProtocolError):
                    frame = frames.decode(data)
                    if isinstance(frame, frames.Hello):
                        link.hellos.append(frame)
                    elif isinstance(frame, frames.Publish):
                        link.published += 1
                    elif isinstance(frame, frames.Snapshot):
                        link.snapshots.append((time.monotonic(), parse_envelope(frame.envelope).ref))
                    elif isinstance(frame, frames.SnapshotPart):
                        parts[frame.client_ref] = parts.get(frame.client_ref, b"") + frame.chunk
                        if len(parts[frame.client_ref]) >= frame.total:
                            link.snapshots.append((time.monotonic(), parse_envelope(parts.pop(frame.client_ref)).ref))
                await hub.send(data)

    async def _hub_to_client(self, ws: WebSocket, hub: ClientConnection, link: Link) -> None:
        with contextlib.suppress(WebSocketDisconnect, ConnectionClosed, RuntimeError):
            async for data in hub:
                assert isinstance(data, bytes)
                if data[:1] == bytes([frames.FrameType.SYNCED]) and link.head_cap is not None:
                    synced = frames.decode(data)
                    assert isinstance(synced, frames.Synced)
                    data = frames.synced(min(synced.head, link.head_cap))
                if data[:1] == bytes([frames.FrameType.ACK]):
                    ack = frames.decode(data)
                    assert isinstance(ack, frames.Ack)
                    link.acked = max(link.acked, ack.seq)
                if data[:1] != bytes([frames.FrameType.ENTRY]):
                    await ws.send_bytes(data)
                    continue
                entry = frames.decode(data)
                assert isinstance(entry, frames.Entry)
                link.held[entry.seq] = data
                for seq in self.tamper(link, entry):
                    frame = link.held.pop(seq)
                    link.delivered.append((time.monotonic(), seq))
                    if seq in link.relabel:
                        frame = frames.entry(link.relabel[seq], frame[9:])
                    await ws.send_bytes(frame)

    async def __aenter__(self) -> "HostileHub":
        task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        self._task = task
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._task, 5)
        await self._http.aclose()


@contextlib.asynccontextmanager
async def hostile_hub(hub_url: str, tamper: Tamper = honest) -> AsyncIterator[HostileHub]:
    async with HostileHub(hub_url, tamper) as proxy:
        yield proxy


def delivered_at(link: Link, seq: int) -> float | None:
    """When ENTRY ``seq`` went out to the client on ``link`` (None: it never did)."""
    return next((t for t, s in link.delivered if s == seq), None)
