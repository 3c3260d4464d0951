"""PlaintextProvider: keep a pycrdt.Doc and Awareness in sync with a plaintext room (y-websocket).

The standard y-protocols exchange: on every (re)connect both sides send sync step 1 (their state
vector) and answer the other's with step 2 (what it lacks), so edits made offline stay in the Doc and
reach the hub on reconnect without a queue of our own. After that, each local transaction is sent
as one update; remote updates are applied under a flag so they are never echoed back.

y-websocket has no acknowledgement, so ``pending`` is defined honestly as: local updates not yet
written out on a synced connection (made offline, queued, or still in the socket's write buffer).
It says nothing about the hub's disk; ``confirm()`` checks that separately with a fresh handshake,
whose step 1 carries the hub's durable state vector (the hub applies an update only once stored).
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

import pycrdt
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from collab.client.provider import FINAL_CLOSES, RETRY_CLOSES, ProviderError, Status, close_message, connect_failure
from collab.protocol import yjs

log = logging.getLogger(__name__)

# Close codes after which retrying cannot help: the hub refused us for a reason that will not change.
FATAL_CLOSE = {
    **FINAL_CLOSES,
    4401: "not a writer of this room",
    4403: "this room is end-to-end encrypted: use its full link (with #k=...)",
    4404: "no such room on this hub",
}
AWARENESS_RENEW_S = 15.0  # y-protocols drops a peer's presence after 30 s of silence
MERGE_LIMIT_BYTES = 1024 * 1024  # queued local updates merged into one frame up to this size


class PlaintextProvider:
    def __init__(
        self,
        url: str,
        doc: pycrdt.Doc | None = None,
        awareness: pycrdt.Awareness | None = None,
        *,
        backoff_initial: float = 0.1,
        backoff_max: float = 5.0,
        open_timeout: float = 10.0,
    ) -> None:
        self.url = url
        self.doc = doc or pycrdt.Doc()
        self.awareness = awareness or pycrdt.Awareness(self.doc)
        self.synced = asyncio.Event()
        self.status = Status.CONNECTING
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.open_timeout = open_timeout
        self.last_error: str | None = None
        self.connects = 0  # successful handshakes so far (reconnects = connects - 1)
        self._fatal: ProviderError | None = None
        self._ws: ClientConnection | None = None
        self._live = False  # connected and our step 2 / queued updates can flow
        self._applying_remote = False
        self._outbox: list[bytes] = []
        self._unsent = 0  # local updates not yet handed to a synced socket
        self._wake = asyncio.Event()
        self._changed = asyncio.Event()  # set on any change of status or pending
        self._remote_clients: set[int] = set()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._doc_sub: pycrdt.Subscription | None = None
        self._aw_sub: str | None = None

    # -- lifecycle ---------------------------------------------------------------------------------

    async def start(self, timeout: float | None = None) -> None:
        self._doc_sub = self.doc.observe(self._on_doc)
        self._aw_sub = self.awareness.observe(self._on_awareness)
        self._task = asyncio.create_task(self._run(), name=f"collab-provider {self.url}")
        waiter = asyncio.create_task(self.synced.wait())
        try:
            done, _ = await asyncio.wait({waiter, self._task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
        if self._fatal is not None:
            raise self._fatal
        if not self.synced.is_set():
            await self._shutdown()
            raise ProviderError(f"could not reach the hub at {self.url}: {self.last_error or 'timed out'}")

    async def stop(self, timeout: float = 5.0) -> None:
        """Send what is pending (bounded), say goodbye in awareness, close with 1000."""
        if self._closing:
            return
        try:
            await asyncio.wait_for(self.wait_idle(), timeout)
        except (asyncio.TimeoutError, ProviderError):
            if self._unsent:
                log.warning("closing with %d local updates not sent; they stay in the document", self._unsent)
        self._closing = True
        ws = self._ws
        if ws is not None and self._live:
            self._live = False
            try:
                self.awareness.set_local_state(None)
                goodbye = self.awareness.encode_awareness_update([self.doc.client_id])
                await asyncio.wait_for(ws.send(yjs.awareness_message(goodbye)), 2)
                await asyncio.wait_for(ws.close(1000, "bye"), 2)
            except Exception:
                pass
        await self._shutdown()

    async def _shutdown(self) -> None:
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except BaseException:
                pass
        if self._doc_sub is not None:
            self.doc.unobserve(self._doc_sub)
            self._doc_sub = None
        if self._aw_sub is not None:
            self.awareness.unobserve(self._aw_sub)
            self._aw_sub = None
        self._drop_remote_awareness()
        self._set_status(Status.CLOSED)

    @property
    def pending(self) -> int:
        return self._unsent

    @property
    def fatal(self) -> ProviderError | None:
        return self._fatal

    async def wait_idle(self) -> None:
        """Wait until we are connected and every local update has been written out."""
        while not (self.status is Status.CONNECTED and self._unsent == 0):
            if self._fatal is not None:
                raise self._fatal
            if self.status is Status.CLOSED:
                raise ProviderError("provider is closed")
            self._changed.clear()
            await self._changed.wait()

    async def confirm(self, timeout: float = 10.0) -> bool:
        """True once a fresh connection shows the hub's stored state covers all of ours."""
        await asyncio.wait_for(self.wait_idle(), timeout)
        ours = _decode_state_vector(self.doc.get_state())
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            if self._fatal is not None:
                raise self._fatal  # e.g. the hub closed our connection with 1009: it will never have it
            try:
                async with connect(self.url, max_size=None, open_timeout=self.open_timeout) as ws:
                    frame = await asyncio.wait_for(ws.recv(), timeout)
            except (OSError, InvalidHandshake, ConnectionClosed, asyncio.TimeoutError) as exc:
                if asyncio.get_running_loop().time() > deadline:
                    raise ProviderError(f"could not check with the hub at {self.url}: {connect_failure(exc)}") from None
                await asyncio.sleep(0.5)
                continue
            msg = yjs.parse_message(frame if isinstance(frame, bytes) else frame.encode())
            if isinstance(msg, yjs.SyncMessage) and msg.kind is yjs.SyncType.STEP1:
                theirs = _decode_state_vector(msg.payload)
                if all(theirs.get(client, 0) >= clock for client, clock in ours.items()):
                    return True
            if asyncio.get_running_loop().time() > deadline:
                return False
            await asyncio.sleep(0.1)

    # -- the connection loop -----------------------------------------------------------------------

    async def _run(self) -> None:
        attempt = 0
        while not self._closing:
            try:
                async with connect(
                    self.url, max_size=None, open_timeout=self.open_timeout, ping_interval=20, ping_timeout=20
                ) as ws:
                    self._ws = ws
                    self.connects += 1
                    attempt = 0
                    await self._serve(ws)
                    code = ws.close_code
                    reason = ws.close_reason
            except ConnectionClosed as exc:
                code = exc.rcvd.code if exc.rcvd else None
                reason = exc.rcvd.reason if exc.rcvd else ""
            except InvalidStatus as exc:
                status = exc.response.status_code
                if status in (403, 404):
                    self._fail(f"the hub refused the connection (HTTP {status})")
                    return
                code, reason = None, connect_failure(exc)
            except (OSError, InvalidHandshake, asyncio.TimeoutError) as exc:
                code, reason = None, connect_failure(exc)
            except yjs.ProtocolError as exc:
                log.warning("%s: malformed frame from the hub (%s); reconnecting", self.url, exc)
                code, reason = None, f"malformed frame: {exc}"
            finally:
                self._ws = None
                self._live = False
                self._drop_remote_awareness()
            if self._closing:
                return
            if code in FATAL_CLOSE:
                self._fail(close_message(FATAL_CLOSE[code], code, reason))
                return
            if not self.synced.is_set() and code not in RETRY_CLOSES:
                # Never synced: the first failure is the answer (refused, bad certificate, HTTP
                # status); waiting out the timeout would only hide it.
                failure = close_message("the hub closed the connection", code, reason) if code else reason
                self._fail(f"could not reach the hub at {self.url}: {failure}")
                return
            self.last_error = f"close {code} {reason}".strip() if code else reason
            self._set_status(Status.OFFLINE)
            delay = min(self.backoff_max, self.backoff_initial * 2**attempt)
            attempt += 1
            # Full jitter: many clients losing one hub must not all come back in the same instant.
            await asyncio.sleep(random.uniform(delay / 2, delay))

    def _fail(self, message: str) -> None:
        self._fatal = ProviderError(message)
        # Info, not error: whoever started the provider gets the message and tells the person once.
        log.info("%s: %s", self.url, message)
        self._set_status(Status.CLOSED)

    async def _serve(self, ws: ClientConnection) -> None:
        # Nothing queued before this point matters: step 2 (in reply to the hub's step 1) carries it.
        self._outbox.clear()
        await ws.send(yjs.sync_step1(self.doc.get_state()))
        if self.awareness.get_local_state() is not None:
            await ws.send(yjs.awareness_message(self.awareness.encode_awareness_update([self.doc.client_id])))
        sender = asyncio.create_task(self._send_loop(ws))
        renew = asyncio.create_task(self._renew_awareness())
        try:
            async for frame in ws:
                if isinstance(frame, str):
                    raise yjs.ProtocolError("the hub sent a text frame")
                await self._on_frame(ws, frame)
        finally:
            sender.cancel()
            renew.cancel()

    async def _on_frame(self, ws: ClientConnection, frame: bytes) -> None:
        msg = yjs.parse_message(frame)
        if isinstance(msg, yjs.SyncMessage):
            if msg.kind is yjs.SyncType.STEP1:
                # Everything made before this step 2 is in it; later edits go through the outbox
                # (Yjs applies updates in any order, so the two may interleave on the wire).
                covered = self._unsent
                step2 = yjs.sync_step2(self.doc.get_update(msg.payload))
                self._live = True
                await ws.send(step2)
                await _drain(ws)
                self._unsent = max(0, self._unsent - covered)
                self._wake.set()
            else:
                self._apply_remote(msg.payload)
                if msg.kind is yjs.SyncType.STEP2 and not self.synced.is_set():
                    self.synced.set()
            if self._live and self.synced.is_set() and self.status is not Status.CONNECTED:
                self._set_status(Status.CONNECTED)
            self._changed.set()
        elif isinstance(msg, yjs.AwarenessMessage):
            for entry in yjs.parse_awareness(msg.payload):
                if entry.client_id != self.doc.client_id:
                    (self._remote_clients.discard if entry.state_json == "null" else self._remote_clients.add)(
                        entry.client_id
                    )
            self.awareness.apply_awareness_update(msg.payload, "remote")
        elif isinstance(msg, yjs.QueryAwarenessMessage):
            await ws.send(yjs.awareness_message(self.awareness.encode_awareness_update([self.doc.client_id])))

    def _apply_remote(self, update: bytes) -> None:
        self._applying_remote = True
        try:
            self.doc.apply_update(update)
        finally:
            self._applying_remote = False

    async def _send_loop(self, ws: ClientConnection) -> None:
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
                await ws.send(yjs.sync_update(update))
                await _drain(ws)
                self._unsent = max(0, self._unsent - len(batch))
                self._changed.set()

    async def _renew_awareness(self) -> None:
        while True:
            await asyncio.sleep(AWARENESS_RENEW_S)
            state = self.awareness.get_local_state()
            if state is not None:
                self.awareness.set_local_state(state)

    # -- observers (synchronous: called at the end of each transaction) ------------------------------

    def _on_doc(self, event: pycrdt.TransactionEvent) -> None:
        if self._applying_remote:
            return
        update = event.update
        if update == b"\x00\x00":
            return
        self._unsent += 1
        if self._live:
            self._outbox.append(update)
            self._wake.set()
        self._changed.set()

    def _on_awareness(self, topic: str, change: tuple[dict[str, Any], Any]) -> None:
        _, origin = change
        if topic != "update" or origin != "local" or not self._live or self._ws is None:
            return
        frame = yjs.awareness_message(self.awareness.encode_awareness_update([self.doc.client_id]))
        ws = self._ws
        asyncio.get_running_loop().create_task(_send_quietly(ws, frame))

    def _drop_remote_awareness(self) -> None:
        """Presence heard through a dead connection is stale; the hub re-sends it on reconnect."""
        if self._remote_clients:
            self.awareness.remove_awareness_states(sorted(self._remote_clients), "disconnect")
            self._remote_clients.clear()

    def _set_status(self, status: Status) -> None:
        if self.status is not status:
            self.status = status
            log.info("%s: %s", self.url, status.value)
        self._changed.set()


async def _drain(ws: ClientConnection) -> None:
    """Wait until the socket's write buffer is empty: the bytes are with the OS, not with us."""
    transport = ws.transport
    while transport is not None and not transport.is_closing() and transport.get_write_buffer_size():
        await asyncio.sleep(0.005)


async def _send_quietly(ws: ClientConnection, frame: bytes) -> None:
    try:
        await ws.send(frame)
    except ConnectionClosed:
        pass  # the reconnect sends our presence again


def _decode_state_vector(sv: bytes) -> dict[int, int]:
    count, pos = yjs.read_var_uint(sv, 0)
    out: dict[int, int] = {}
    for _ in range(count):
        client, pos = yjs.read_var_uint(sv, pos)
        clock, pos = yjs.read_var_uint(sv, pos)
        out[client] = clock
    return out
