"""PlaintextProvider: keep a pycrdt.Doc and Awareness in sync with a plaintext room (y-websocket).

The standard y-protocols exchange: on every (re)connect both sides send sync step 1 (their state
vector) and answer the other's with step 2 (what it lacks), so edits made offline stay in the Doc and
reach the hub on reconnect without a queue of our own. After that, each local transaction is sent
as one update; remote updates are applied under a flag so they are never echoed back. The
connection loop (backoff, which closes are final) is ``collab.client.connector``.

y-websocket has no acknowledgement, so ``pending`` is defined honestly as: local updates not yet
written out on a synced connection (made offline, queued, or still in the socket's write buffer).
It says nothing about the hub's disk; ``confirm()`` checks that separately with a fresh handshake,
whose step 1 carries the hub's durable state vector (the hub applies an update only once stored).

Direct messages (``collab.client.direct``) are message type 100: to the hub ``peer`` is the
addressee's Yjs client id, from it the sender's.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable

import pycrdt

from collab.client import presence
from collab.client.closes import PLAINTEXT_FINAL_CLOSES
from collab.client.connector import Connector, ConnectorState
from collab.client.direct import DirectError, DirectHandler, DirectMessages
from collab.client.docsync import LocalUpdates
from collab.client.provider import ProviderError, Status
from collab.client.rejections import Rejection, Rejections
from collab.client.transport import BadFrame, ConnectFailed, FrameSocket, SocketClosed, Transport, close_message
from collab.client.ws_transport import WebsocketsTransport
from collab.protocol import close_codes, yjs

log = logging.getLogger(__name__)

MERGE_LIMIT_BYTES = 1024 * 1024  # queued local updates merged into one frame up to this size


class PlaintextProvider(ConnectorState):
    def __init__(
        self,
        url: str,
        doc: pycrdt.Doc[Any] | None = None,
        awareness: pycrdt.Awareness | None = None,
        *,
        transport: Transport | None = None,
        backoff_initial: float = 0.1,
        backoff_max: float = 5.0,
        open_timeout: float = 10.0,
    ) -> None:
        self.url = url
        self.doc = doc or pycrdt.Doc()
        self.awareness = awareness or pycrdt.Awareness(self.doc)
        self.transport = transport or WebsocketsTransport(open_timeout=open_timeout)
        self.connector = Connector(
            url, self, self.transport, backoff_initial=backoff_initial, backoff_max=backoff_max
        )
        self.rejections = Rejections(url)
        self._local = LocalUpdates(self.doc, self._on_local_update)
        self._remote = presence.RemotePresence(self.awareness, self._on_refused_presence)
        self.direct = DirectMessages(self._send_direct)
        self._live = False  # connected and our step 2 / queued updates can flow
        self._hub_sent_step2 = False  # on this connection
        self._caught_up = False  # this connection has both step 2s behind it
        self._outbox: list[bytes] = []
        self._unsent = 0  # local updates not yet handed to a synced socket
        self._wake = asyncio.Event()
        self._closing = False
        self._aw_sub: str | None = None

    # -- the Provider contract ---------------------------------------------------------------------

    @property
    def pending(self) -> int:
        return self._unsent

    @property
    def refused(self) -> list[str]:
        return []  # y-websocket has no refusal of single updates: the hub closes instead

    def send_direct(self, peer: int, message: dict[str, Any]) -> None:
        """Send ``message`` to the participant with Yjs client id ``peer`` alone (best effort:
        dropped when not connected; the hub drops it when nobody there speaks for ``peer``)."""
        self.direct.send(peer, message)

    def on_direct(self, callback: DirectHandler) -> Callable[[], None]:
        """``callback(sender's client id, message)`` for each direct message to us; returns the unsubscribe."""
        return self.direct.subscribe(callback)

    async def start(self, timeout: float | None = None) -> None:
        self._local.start()
        self._aw_sub = self.awareness.observe(self._on_awareness)
        try:
            await self.connector.start(timeout)
        except ProviderError:
            await self._shutdown()
            raise

    async def stop(self, timeout: float = 5.0) -> None:
        """Send what is pending (bounded), say goodbye in awareness, close normally."""
        if self._closing:
            return
        try:
            await asyncio.wait_for(self.wait_idle(), timeout)
        except (asyncio.TimeoutError, ProviderError):
            if self._unsent:
                log.warning("closing with %d local updates not sent; they stay in the document", self._unsent)
        self._closing = True
        self.connector.leaving()
        sock = self.connector.socket
        if sock is not None and self._live:
            self._live = False
            try:
                self.awareness.set_local_state(None)
                goodbye = self.awareness.encode_awareness_update([self.doc.client_id])
                await asyncio.wait_for(sock.send(yjs.awareness_message(goodbye)), 2)
                await asyncio.wait_for(sock.close(close_codes.NORMAL, "bye"), 2)
            except Exception:
                pass
        await self._shutdown()

    async def _shutdown(self) -> None:
        self._closing = True
        await self.connector.stop()
        self._local.stop()
        if self._aw_sub is not None:
            self.awareness.unobserve(self._aw_sub)
            self._aw_sub = None
        self._remote.forget_all("disconnect")

    async def wait_idle(self) -> None:
        """Wait until we are connected and every local update has been written out."""
        await self.connector.wait_until(lambda: self.status is Status.CONNECTED and self._unsent == 0)

    async def confirm(self, timeout: float = 10.0) -> bool:
        """True once a fresh connection shows the hub's stored state covers all of ours."""
        await asyncio.wait_for(self.wait_idle(), timeout)
        ours = _decode_state_vector(self.doc.get_state())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if self.fatal is not None:
                raise self.fatal  # e.g. the hub closed our connection as too big: it will never have it
            try:
                frame = await asyncio.wait_for(self._first_frame(), timeout)
            except (ConnectFailed, SocketClosed, BadFrame, asyncio.TimeoutError) as exc:
                if loop.time() > deadline:
                    failure = str(exc) or "no answer (timed out)"
                    raise ProviderError(f"could not check with the hub at {self.url}: {failure}") from None
                await asyncio.sleep(0.5)
                continue
            msg = yjs.parse_message(frame)
            if isinstance(msg, yjs.SyncMessage) and msg.kind is yjs.SyncType.STEP1:
                theirs = _decode_state_vector(msg.payload)
                if all(theirs.get(client, 0) >= clock for client, clock in ours.items()):
                    return True
            if loop.time() > deadline:
                return False
            await asyncio.sleep(0.1)

    async def _first_frame(self) -> bytes:
        sock = await self.transport.connect(self.url)
        try:
            return await sock.recv()
        finally:
            await sock.close()

    # -- one connection (the connector's RoomSession) ------------------------------------------------

    def final_close(self, code: int, reason: str) -> str | None:
        message = PLAINTEXT_FINAL_CLOSES.get(code)
        return close_message(message, code, reason) if message is not None else None

    def disconnected(self) -> None:
        self._live = False
        # Presence heard through a dead connection is stale; the hub re-sends it on reconnect.
        self._remote.forget_all("disconnect")

    async def serve(self, sock: FrameSocket) -> None:
        # Nothing queued before this point matters: step 2 (in reply to the hub's step 1) carries it.
        self._outbox.clear()
        self._hub_sent_step2 = self._caught_up = False
        await sock.send(yjs.sync_step1(self.doc.get_state()))
        if self.awareness.get_local_state() is not None:
            await sock.send(yjs.awareness_message(self.awareness.encode_awareness_update([self.doc.client_id])))
        sender = asyncio.create_task(self._send_loop(sock))
        renew = asyncio.create_task(presence.keep_alive(self.awareness))
        try:
            while True:
                await self._on_frame(sock, await sock.recv())
        finally:
            sender.cancel()
            renew.cancel()

    async def _on_frame(self, sock: FrameSocket, frame: bytes) -> None:
        msg = yjs.parse_message(frame)
        if isinstance(msg, yjs.SyncMessage):
            if msg.kind is yjs.SyncType.STEP1:
                # Everything made before this step 2 is in it; later edits go through the outbox
                # (Yjs applies updates in any order, so the two may interleave on the wire).
                covered = self._unsent
                step2 = yjs.sync_step2(self.doc.get_update(msg.payload))
                self._live = True
                await sock.send(step2)
                await sock.drain()
                self._unsent = max(0, self._unsent - covered)
                self._wake.set()
            else:
                self._local.apply_remote(msg.payload)
                if msg.kind is yjs.SyncType.STEP2:
                    self._hub_sent_step2 = True
            if self._live and self._hub_sent_step2 and not self._caught_up:
                self._caught_up = True
                self.connector.connection_synced()
            elif self._live and self.synced.is_set() and self.status is not Status.CONNECTED:
                self.connector.set_status(Status.CONNECTED)  # a reconnect: our offline edits went in step 2
            self.connector.changed.set()
        elif isinstance(msg, yjs.AwarenessMessage):
            self._remote.apply(msg.payload)
        elif isinstance(msg, yjs.DirectMessage):
            try:
                self.direct.received(msg.peer, msg.payload)
            except DirectError as exc:
                self.rejections.add(Rejection(None, "direct", "DirectError", str(exc)), f"client {msg.peer}")
        elif isinstance(msg, yjs.QueryAwarenessMessage):
            await sock.send(yjs.awareness_message(self.awareness.encode_awareness_update([self.doc.client_id])))

    def _on_refused_presence(self, refused: presence.Refused, source: int) -> None:
        rejection = Rejection(None, "awareness", "PresenceError", f"client {refused.client_id}: {refused.reason}")
        self.rejections.add(rejection, "the room's presence")

    async def _send_loop(self, sock: FrameSocket) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._live and self._outbox:
                batch: list[bytes] = []
                size = 0
                while self._outbox and (not batch or size + len(self._outbox[0]) <= MERGE_LIMIT_BYTES):
                    size += len(self._outbox[0])
                    batch.append(self._outbox.pop(0))
                update = batch[0] if len(batch) == 1 else pycrdt.merge_updates(*batch)
                await sock.send(yjs.sync_update(update))
                await sock.drain()
                self._unsent = max(0, self._unsent - len(batch))
                self.connector.changed.set()

    # -- observers (synchronous: called at the end of each transaction) ------------------------------

    def _on_local_update(self, update: bytes) -> None:
        self._unsent += 1
        if self._live:
            self._outbox.append(update)
            self._wake.set()
        self.connector.changed.set()

    def _send_direct(self, peer: int, payload: bytes) -> bool:
        sock = self.connector.socket
        if not self._live or sock is None or self._closing:
            return False
        asyncio.get_running_loop().create_task(_send_quietly(sock, yjs.direct_message(peer, payload)))
        return True

    def _on_awareness(self, topic: str, change: tuple[dict[str, Any], Any]) -> None:
        _, origin = change
        sock = self.connector.socket
        if topic != "update" or origin != "local" or not self._live or sock is None:
            return
        frame = yjs.awareness_message(self.awareness.encode_awareness_update([self.doc.client_id]))
        asyncio.get_running_loop().create_task(_send_quietly(sock, frame))


async def _send_quietly(sock: FrameSocket, frame: bytes) -> None:
    try:
        await sock.send(frame)
    except SocketClosed:
        pass  # the reconnect sends our presence again


def _decode_state_vector(sv: bytes) -> dict[int, int]:
    count, pos = yjs.read_var_uint(sv, 0)
    out: dict[int, int] = {}
    for _ in range(count):
        client, pos = yjs.read_var_uint(sv, pos)
        clock, pos = yjs.read_var_uint(sv, pos)
        out[client] = clock
    return out
