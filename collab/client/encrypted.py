"""EncryptedProvider: keeps a pycrdt.Doc and Awareness in sync with an end-to-end encrypted room.

Everything that leaves this process is sealed (collab.protocol.envelope); everything that arrives
is opened, signature-checked and replay-checked before it touches the document. What fails is
dropped and reported in ``rejected`` (and to ``on_rejected``), never applied.

Durability: each local update is sealed once and kept, byte for byte, until the hub acknowledges
it. After a reconnect the provider resumes with HELLO since=<highest contiguous seq it has> and
re-sends every unacknowledged envelope in order, so its author sequence never has a hole.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import struct
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

import pycrdt
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, InvalidURI
from websockets.typing import Subprotocol

from collab.client.provider import (
    FINAL_CLOSES,
    RETRY_CLOSES,
    ProviderError,
    Status,
    close_message,
    connect_failure,
)
from collab.crypto.auth import sign_challenge
from collab.crypto.keys import RoomKeys
from collab.crypto.links import parse_link, websocket_url
from collab.protocol import relay_frames as frames
from collab.protocol import yjs
from collab.protocol.envelope import (
    Envelope,
    EnvelopeError,
    EnvelopeType,
    Opened,
    ReplayGuard,
    new_author_id,
    open_envelope,
    parse_envelope,
    seal_awareness,
    seal_snapshot,
    seal_update,
)

log = logging.getLogger(__name__)

# Close codes after which retrying cannot help: tell the user instead of looping.
FATAL_CLOSES = {
    **FINAL_CLOSES,
    4401: "the hub refused us as a writer: this link's write key is not the room's",
    4403: "the hub refused this room kind: it is not an end-to-end encrypted room",
    4404: "no such room on this hub (encrypted rooms are created with `collab new`)",
}
MAX_INCOMING_FRAME = 64 * 1024 * 1024
# Yjs awareness drops a peer it has not heard from for 30 s: renew well within that.
AWARENESS_RENEW_S = 15.0
_SNAPSHOT_PREFIX = struct.Struct(">I")

FrameObserver = Callable[[str, bytes], None]  # ("in" | "out", raw frame)


@dataclass(frozen=True, slots=True)
class Rejection:
    """An envelope that failed verification and was dropped."""

    seq: int | None  # the hub's sequence number; None for presence
    kind: str  # update | snapshot | awareness | unknown
    error: str  # exception class: TamperedEnvelope, ReplayedEnvelope, ReorderedEnvelope, ...
    message: str


@dataclass(slots=True)
class _Pending:
    ref: int
    frame: bytes  # the PUBLISH frame, re-sent byte for byte after a reconnect


class _Retry(Exception):
    """End this connection and reconnect (after backoff), keeping everything queued."""


# --- snapshot plaintext: u32 length | JSON {"heads": ReplayGuard.export()} | Yjs state ---------


def encode_snapshot(state: bytes, heads: dict[str, int]) -> bytes:
    meta = json.dumps({"heads": heads}, separators=(",", ":")).encode()
    return _SNAPSHOT_PREFIX.pack(len(meta)) + meta + state


def decode_snapshot(plaintext: bytes) -> tuple[bytes, dict[str, int]]:
    if len(plaintext) < _SNAPSHOT_PREFIX.size:
        raise ValueError("snapshot plaintext is truncated")
    (size,) = _SNAPSHOT_PREFIX.unpack_from(plaintext)
    end = _SNAPSHOT_PREFIX.size + size
    if end > len(plaintext):
        raise ValueError("snapshot metadata runs past the end")
    meta = json.loads(plaintext[_SNAPSHOT_PREFIX.size : end])
    heads = meta.get("heads") if isinstance(meta, dict) else None
    if not isinstance(heads, dict):
        raise ValueError("snapshot metadata has no author heads")
    return plaintext[end:], heads


class _SeqTracker:
    """Which hub sequence numbers this client has: everything <= contiguous, plus some above."""

    def __init__(self) -> None:
        self.contiguous = 0
        self.above: set[int] = set()

    def has(self, seq: int) -> bool:
        return seq <= self.contiguous or seq in self.above

    def add(self, seq: int) -> None:
        if seq <= self.contiguous:
            return
        self.above.add(seq)
        while self.contiguous + 1 in self.above:
            self.contiguous += 1
            self.above.discard(self.contiguous)

    def cover(self, seq: int) -> None:
        """A snapshot covers every seq up to ``seq``."""
        if seq > self.contiguous:
            self.contiguous = seq
            self.above = {s for s in self.above if s > seq}
            while self.contiguous + 1 in self.above:
                self.contiguous += 1
                self.above.discard(self.contiguous)

    @property
    def complete(self) -> bool:
        return not self.above


class EncryptedProvider:
    def __init__(
        self,
        keys: RoomKeys,
        ws_url: str,
        doc: pycrdt.Doc | None = None,
        awareness: pycrdt.Awareness | None = None,
        *,
        compact_every: int = 500,
        on_rejected: Callable[[Rejection], None] | None = None,
        on_frame: FrameObserver | None = None,
        backoff_initial: float = 0.1,
        backoff_max: float = 10.0,
    ) -> None:
        self.keys = keys
        self.ws_url = ws_url
        self.doc = doc if doc is not None else pycrdt.Doc()
        self.awareness = awareness if awareness is not None else pycrdt.Awareness(self.doc)
        self.compact_every = compact_every
        self.on_rejected = on_rejected
        self.on_frame = on_frame
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.synced = asyncio.Event()
        self.status = Status.CONNECTING
        self.rejected: list[Rejection] = []
        self.refused: list[str] = []  # our own envelopes the hub refused for good (NACK 2/3)
        self.conn_id: int | None = None
        self.head = 0  # the hub's head as of the last SYNCED / CHALLENGE
        self.snapshots_made = 0

        self._author_id = new_author_id()
        self._session_id = new_author_id()  # awareness: its own id, so its counter is independent
        self._update_seq = 0
        self._snapshot_seq = 0
        self._awareness_counter = 0
        self._guard = ReplayGuard()
        self._seqs = _SeqTracker()
        self._next_ref = 1
        self._queue: deque[_Pending] = deque()
        self._sent = 0  # how many of _queue went out on the current connection
        self._awareness_out: bytes | None = None
        self._control_out: deque[bytes] = deque()  # snapshots: sent once, on this connection only
        self._snapshot_ref: int | None = None
        self._snapshot_done: asyncio.Future[int] | None = None
        self._since_snapshot = 0
        self._conn_clients: dict[int, set[int]] = {}
        self._applying_remote = False
        self._warned_read_only = False
        self._ws: ClientConnection | None = None
        self._wake = asyncio.Event()
        self._acked = asyncio.Event()
        self._stopping = False
        self._fatal: ProviderError | None = None
        self.last_error: str | None = None  # why the last connection attempt ended, for the person
        self._syncs = 0  # SYNCED frames so far: a connection that synced resets the backoff
        self._task: asyncio.Task[None] | None = None
        self._doc_sub: Any = None
        self._awareness_sub: str | None = None

    @classmethod
    def from_link(cls, link: str, doc: pycrdt.Doc | None = None, awareness: pycrdt.Awareness | None = None,
                  **options: Any) -> "EncryptedProvider":
        parsed = parse_link(link)
        if parsed.keys is None:
            raise ProviderError("this link is for a plaintext room: it carries no key")
        return cls(parsed.keys, websocket_url(parsed.server_base, parsed.room), doc, awareness, **options)

    # -- the Provider contract -------------------------------------------------------------------

    @property
    def pending(self) -> int:
        return len(self._queue)

    @property
    def fatal(self) -> ProviderError | None:
        return self._fatal

    @property
    def can_write(self) -> bool:
        return self.keys.can_write

    async def start(self, timeout: float | None = None) -> None:
        """Connect and wait for the first SYNCED (retrying meanwhile); ``timeout`` bounds the wait."""
        self._doc_sub = self.doc.observe(self._on_local_update)
        self._awareness_sub = self.awareness.observe(self._on_local_awareness)
        self._task = asyncio.create_task(self._run(), name=f"collab-e2ee-{self.keys.room_id}")
        done = asyncio.create_task(self.synced.wait())
        try:
            await asyncio.wait({done, self._task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            done.cancel()
        if self._fatal is not None:
            await self.stop()
            raise self._fatal
        if not self.synced.is_set():
            await self.stop()
            last = f" (last error: {self.last_error})" if self.last_error else ""
            raise ProviderError(f"could not sync with the hub at {self.ws_url} within {timeout:g} s{last}")

    async def stop(self, timeout: float = 5.0) -> None:
        if self._task is None:
            return
        if self._ws is not None and self._queue and self._fatal is None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._drained(), timeout)
        if self.awareness.get_local_state() is not None and self._ws is not None:
            self.awareness.set_local_state(None)  # tells the others we left, sealed like any presence
            await asyncio.sleep(0)
        self._stopping = True
        self._wake.set()
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._flush_awareness(ws), 1.0)
            await ws.close()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task
        self._task = None
        if self._doc_sub is not None:
            self.doc.unobserve(self._doc_sub)
        if self._awareness_sub is not None:
            self.awareness.unobserve(self._awareness_sub)
        self.status = Status.CLOSED

    async def __aenter__(self) -> "EncryptedProvider":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _drained(self) -> None:
        while self._queue:
            self._acked.clear()
            await self._acked.wait()

    async def flush(self, timeout: float = 10.0) -> None:
        """Wait until the hub has acknowledged everything written so far."""
        await asyncio.wait_for(self._drained(), timeout)

    # -- connection loop -------------------------------------------------------------------------

    async def _run(self) -> None:
        delay = self.backoff_initial
        while not self._stopping:
            code: int | None = None
            come_back = False  # the hub asked us to retry (store unavailable, shutting down)
            syncs = self._syncs
            try:
                async with connect(
                    self.ws_url,
                    subprotocols=[Subprotocol(frames.SUBPROTOCOL)],
                    max_size=MAX_INCOMING_FRAME,
                    open_timeout=10,
                ) as ws:
                    self._ws = ws
                    try:
                        await self._session(ws)
                    finally:
                        self._ws = None
                    code = ws.close_code
                    if code is not None and code in FATAL_CLOSES:
                        self._fail(code, ws.close_reason)
                        return
                    failure = close_message("the hub closed the connection", code, ws.close_reason) if code else ""
            except ProviderError as exc:
                self._fatal = exc
                self.status = Status.CLOSED
                return
            except InvalidStatus as exc:
                status = exc.response.status_code
                if 400 <= status < 500 and status != 429:
                    self._fatal = ProviderError(f"the hub refused the connection with HTTP {status}")
                    self.status = Status.CLOSED
                    return
                failure = connect_failure(exc)
            except InvalidURI as exc:
                self._fatal = ProviderError(f"not a websocket address: {exc}")
                self.status = Status.CLOSED
                return
            except _Retry as exc:
                come_back, failure = True, f"the hub's store is unavailable: {exc}"
            except ConnectionClosed as exc:
                code = exc.rcvd.code if exc.rcvd else None
                failure = close_message("the hub closed the connection", code, exc.rcvd.reason) if exc.rcvd else str(exc)
            except (OSError, asyncio.TimeoutError, frames.ProtocolError) as exc:
                failure = connect_failure(exc)
            finally:
                self._drop_remote_presence()
                self._abandon_snapshot()
            if self._stopping:
                break
            if self._syncs > syncs:
                delay = self.backoff_initial  # that connection worked: a new loss starts the backoff over
            self.last_error = failure or "connection lost"
            if not self.synced.is_set() and not come_back and code not in RETRY_CLOSES:
                # Never synced: the first failure is the answer (refused, bad certificate, HTTP
                # status); retrying until a timeout would only hide it from the person waiting.
                self._fatal = ProviderError(f"could not sync with the hub at {self.ws_url}: {self.last_error}")
                self.status = Status.CLOSED
                return
            log.info("room %s: connection lost (%s); retrying", self.keys.room_id, self.last_error)
            self.status = Status.OFFLINE
            # Full jitter keeps a hub restart from being hit by every client at the same instant.
            await asyncio.sleep(random.uniform(delay / 2, delay))
            delay = min(delay * 2, self.backoff_max)

    def _fail(self, code: int, reason: str) -> None:
        message = FATAL_CLOSES[code]
        if code == 1009 and self._queue:
            biggest = max(len(p.frame) for p in self._queue)
            message += f"; the largest change waiting is {biggest:,} bytes sealed"
        self._fatal = ProviderError(close_message(message, code, reason))
        self.status = Status.CLOSED

    async def _send(self, ws: ClientConnection, frame: bytes) -> None:
        if self.on_frame is not None:
            self.on_frame("out", frame)
        await ws.send(frame)

    async def _recv(self, ws: ClientConnection) -> frames.Frame:
        data = await ws.recv()
        if isinstance(data, str):
            raise frames.ProtocolError("the hub sent a text frame")
        if self.on_frame is not None:
            self.on_frame("in", data)
        return frames.decode(data)

    async def _session(self, ws: ClientConnection) -> None:
        try:
            first = await self._recv(ws)
            if not isinstance(first, frames.Challenge):
                raise frames.ProtocolError("the hub did not start with CHALLENGE")
            signature = sign_challenge(self.keys, first.challenge) if self.can_write else None
            role = frames.ROLE_WRITER if self.can_write else frames.ROLE_READER
            await self._send(ws, frames.hello(role, self._seqs.contiguous, signature))
            ready = await self._recv(ws)
            if not isinstance(ready, frames.Ready):
                raise frames.ProtocolError("the hub did not answer HELLO with READY")
            self.conn_id = ready.conn_id
            self._sent = 0
            self._wake.set()  # re-send whatever is unacknowledged, in order
            local = self.awareness.get_local_state()
            if local is not None:
                self._queue_awareness()
            helpers = [asyncio.create_task(self._send_loop(ws)), asyncio.create_task(self._renew_awareness())]
            try:
                while True:
                    frame = await self._recv(ws)
                    self._handle(frame)
            finally:
                for task in helpers:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
        except ConnectionClosed:
            if ws.close_code in FATAL_CLOSES:
                return
            raise

    async def _send_loop(self, ws: ClientConnection) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._sent < len(self._queue):
                pending = self._queue[self._sent]
                self._sent += 1
                await self._send(ws, pending.frame)
            while self._control_out:
                await self._send(ws, self._control_out.popleft())
            await self._flush_awareness(ws)

    async def _flush_awareness(self, ws: ClientConnection) -> None:
        frame, self._awareness_out = self._awareness_out, None
        if frame is not None:
            await self._send(ws, frame)

    # -- frames from the hub ---------------------------------------------------------------------

    def _handle(self, frame: frames.Frame) -> None:
        if isinstance(frame, frames.Entry):
            self._on_entry(frame.seq, frame.envelope)
        elif isinstance(frame, frames.Ack):
            self._on_ack(frame.client_ref, frame.seq)
        elif isinstance(frame, frames.Nack):
            self._on_nack(frame)
        elif isinstance(frame, frames.AwarenessRelay):
            self._on_awareness(frame.conn_id, frame.envelope)
        elif isinstance(frame, frames.Synced):
            self.head = frame.head
            self.status = Status.CONNECTED
            self.synced.set()
            self._syncs += 1
            self._wake.set()
            self._maybe_compact()
        elif isinstance(frame, frames.Left):
            self._forget_connection(frame.conn_id)
        else:
            raise frames.ProtocolError(f"unexpected {type(frame).__name__.upper()} frame from the hub")

    def _reject(self, seq: int | None, kind: str, exc: Exception) -> None:
        rejection = Rejection(seq, kind, type(exc).__name__, str(exc))
        self.rejected.append(rejection)
        log.warning("room %s: dropped %s envelope (seq %s): %s", self.keys.room_id, kind, seq, rejection.error)
        if self.on_rejected is not None:
            self.on_rejected(rejection)

    def _apply_remote(self, update: bytes) -> None:
        self._applying_remote = True
        try:
            self.doc.apply_update(update)
        finally:
            self._applying_remote = False

    def _on_entry(self, seq: int, data: bytes) -> None:
        try:
            env = parse_envelope(data)
        except EnvelopeError as exc:
            self._seqs.add(seq)
            self._reject(seq, "unknown", exc)
            return
        kind = env.type.name.lower()
        if env.type is EnvelopeType.SNAPSHOT:
            self._on_snapshot_entry(seq, env)
            return
        if self._seqs.has(seq):
            return  # the same hub entry again (history overlapping a resume): not a replay
        self._seqs.add(seq)
        if env.type is not EnvelopeType.UPDATE:
            self._reject(seq, kind, EnvelopeError(f"a {kind} envelope has no place in the room log"))
            return
        try:
            opened = open_envelope(self.keys, env)
            self._guard.check(opened)
            pycrdt.get_state(opened.plaintext)  # a signed but undecodable update must not half-apply
            self._apply_remote(opened.plaintext)
        except EnvelopeError as exc:
            self._reject(seq, kind, exc)
            return
        except Exception as exc:  # pycrdt refused the plaintext: a writer sent garbage
            self._reject(seq, kind, ValueError(f"not a Yjs update: {exc}"))
            return
        self._count_for_snapshot()

    def _on_snapshot_entry(self, seq: int, env: Envelope) -> None:
        try:
            opened = open_envelope(self.keys, env)
            if opened.ref != seq:
                raise EnvelopeError(f"the hub labelled a snapshot covering {opened.ref} as seq {seq}")
            state, heads = decode_snapshot(opened.plaintext)
            pycrdt.get_state(state)
            self._guard.check(opened)
            self._apply_remote(state)
            self._guard.load(heads)
        except EnvelopeError as exc:
            self._reject(seq, "snapshot", exc)
            return
        except Exception as exc:
            self._reject(seq, "snapshot", ValueError(f"unusable snapshot: {exc}"))
            return
        self._seqs.cover(seq)
        self._since_snapshot = 0

    def _on_ack(self, ref: int, seq: int) -> None:
        if ref == self._snapshot_ref:
            self._snapshot_ref = None
            self._since_snapshot = 0
            self.snapshots_made += 1
            if self._snapshot_done is not None and not self._snapshot_done.done():
                self._snapshot_done.set_result(seq)
            return
        while self._queue:
            pending = self._queue.popleft()
            self._sent = max(0, self._sent - 1)
            if pending.ref == ref:
                break
            log.warning("room %s: ACK %d skipped unacknowledged ref %d", self.keys.room_id, ref, pending.ref)
        self._seqs.add(seq)
        self._acked.set()
        self._count_for_snapshot()
        if not self._queue and self.synced.is_set():
            self.status = Status.CONNECTED

    def _on_nack(self, nack: frames.Nack) -> None:
        code = nack.code
        if nack.client_ref == self._snapshot_ref:
            self._snapshot_ref = None
            if self._snapshot_done is not None and not self._snapshot_done.done():
                self._snapshot_done.set_exception(ProviderError(f"snapshot refused: {nack.reason}"))
            return
        if nack.client_ref == 0:
            log.warning("room %s: presence refused: %s", self.keys.room_id, nack.reason)
            return
        if code == frames.NackCode.STORE_UNAVAILABLE:
            # Everything from here on stays queued; reconnecting re-sends it in order, so later
            # ACKs on this connection cannot leave a hole in our author sequence for others.
            raise _Retry(nack.reason)
        # Forbidden or invalid will never succeed: drop it so it does not block the queue.
        for i, pending in enumerate(self._queue):
            if pending.ref == nack.client_ref:
                del self._queue[i]
                if i < self._sent:
                    self._sent -= 1
                break
        self.refused.append(f"NACK {code}: {nack.reason}")
        log.error("room %s: hub refused our update for good (code %d): %s", self.keys.room_id, code, nack.reason)
        self._acked.set()

    # -- presence --------------------------------------------------------------------------------

    def _on_awareness(self, conn_id: int, data: bytes) -> None:
        try:
            opened = open_envelope(self.keys, data)
            if opened.type is not EnvelopeType.AWARENESS:
                raise EnvelopeError(f"a {opened.type.name.lower()} envelope relayed as presence")
            entries = yjs.parse_awareness(opened.plaintext)
            self._guard.check(opened)
        except (EnvelopeError, yjs.ProtocolError) as exc:
            self._reject(None, "awareness", exc)
            return
        clients = self._conn_clients.setdefault(conn_id, set())
        for entry in entries:
            if entry.client_id != self.awareness.client_id:
                clients.add(entry.client_id)
        self.awareness.apply_awareness_update(opened.plaintext, "remote")

    async def _renew_awareness(self) -> None:
        while True:
            await asyncio.sleep(AWARENESS_RENEW_S)
            state = self.awareness.get_local_state()
            if state is not None:
                self.awareness.set_local_state(state)  # a higher clock: peers keep us

    def _forget_connection(self, conn_id: int) -> None:
        gone = [cid for cid in self._conn_clients.pop(conn_id, set()) if cid in self.awareness.states]
        if gone:
            self.awareness.remove_awareness_states(gone, "remote")

    def _drop_remote_presence(self) -> None:
        for conn_id in list(self._conn_clients):
            self._forget_connection(conn_id)

    def _on_local_awareness(self, topic: str, change: tuple[dict[str, Any], Any]) -> None:
        if topic == "update" and change[1] == "local":
            self._queue_awareness()

    def _queue_awareness(self) -> None:
        self._awareness_counter += 1
        update = self.awareness.encode_awareness_update([self.awareness.client_id])
        envelope = seal_awareness(self.keys, self._session_id, self._awareness_counter, update)
        self._awareness_out = frames.awareness(envelope)  # only the newest presence matters
        self._wake.set()

    # -- local document changes ------------------------------------------------------------------

    def _on_local_update(self, event: pycrdt.TransactionEvent) -> None:
        if self._applying_remote:
            return
        if not self.can_write:
            if not self._warned_read_only:
                self._warned_read_only = True
                log.warning("room %s: read-only link: local edits stay on this machine", self.keys.room_id)
            return
        self._update_seq += 1
        envelope = seal_update(self.keys, self._author_id, self._update_seq, event.update)
        # Our own updates can come back in history after a resume: the guard must know them.
        self._guard.check(Opened(EnvelopeType.UPDATE, self._author_id, self._update_seq, 0, b""))
        ref = self._next_ref
        self._next_ref += 1
        self._queue.append(_Pending(ref, frames.publish(ref, envelope)))
        self._wake.set()

    # -- compaction ------------------------------------------------------------------------------

    def _count_for_snapshot(self) -> None:
        self._since_snapshot += 1
        self._maybe_compact()

    def _can_snapshot(self) -> bool:
        # The doc must hold exactly entries 1..contiguous: nothing of ours in flight, no holes.
        return (
            self.can_write
            and self._ws is not None
            and self.synced.is_set()
            and self._snapshot_ref is None
            and not self._queue
            and self._seqs.complete
            and self._seqs.contiguous > 0
        )

    def _abandon_snapshot(self) -> None:
        # A snapshot not acknowledged before the connection ended is simply made again later.
        self._control_out.clear()
        if self._snapshot_ref is not None:
            self._snapshot_ref = None
            if self._snapshot_done is not None and not self._snapshot_done.done():
                self._snapshot_done.set_exception(ProviderError("connection lost before the snapshot was stored"))

    def _maybe_compact(self) -> None:
        if self._since_snapshot >= self.compact_every and self._can_snapshot():
            self._send_snapshot()

    def _send_snapshot(self) -> None:
        covers = self._seqs.contiguous
        plaintext = encode_snapshot(self.doc.get_update(), self._guard.export())
        self._snapshot_seq += 1
        envelope = seal_snapshot(self.keys, self._author_id, self._snapshot_seq, covers, plaintext)
        ref = self._next_ref
        self._next_ref += 1
        self._snapshot_ref = ref
        self._control_out.append(frames.snapshot(ref, envelope))
        self._wake.set()

    async def compact(self, timeout: float = 30.0) -> int:
        """Seal the document as a snapshot of everything up to our head; returns the seq it covers."""
        await self.flush(timeout)
        if not self._can_snapshot():
            raise ProviderError("cannot snapshot now: not synced, read-only, or history has holes")
        self._snapshot_done = asyncio.get_running_loop().create_future()
        self._send_snapshot()
        return await asyncio.wait_for(self._snapshot_done, timeout)
