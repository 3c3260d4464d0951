"""EncryptedProvider: keeps a pycrdt.Doc and Awareness in sync with an end-to-end encrypted room.

Everything that leaves this process is sealed (collab.protocol.envelope); everything that arrives
is opened, signature-checked and replay-checked before it touches the document. What fails is
dropped and reported in ``rejected`` (and to ``on_rejected``), never applied.

Durability: each local update is sealed once and kept, byte for byte, until the hub acknowledges
it (``collab.client.outbox``). After a reconnect the provider resumes with HELLO since=<highest
contiguous seq it has> and re-sends every unacknowledged envelope in order, so its author
sequence never has a hole. Presence and direct messages are ``collab.client.sealed_presence``, snapshots
``collab.client.compaction``, the connection loop ``collab.client.connector``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Callable

import pycrdt
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from collab.client.closes import ENCRYPTED_FINAL_CLOSES
from collab.client.compaction import HUB_SNAPSHOT_LIMIT, Compactor
from collab.client.connector import ComeBack, Connector, ConnectorState
from collab.client.direct import DirectHandler, DirectMessages
from collab.client.docsync import LocalUpdates
from collab.client.outbox import Outbox
from collab.client.presence import keep_alive
from collab.client.provider import ProviderError, Status
from collab.client.rejections import Rejection, Rejections
from collab.client.sealed_presence import SealedDirect, SealedPresence
from collab.client.room_log import RoomLog
from collab.client.rotator import PendingRotation, prepare_rotation
from collab.client import roster
from collab.client.transport import FrameSocket, SocketClosed, Transport, close_message
from collab.client.ws_transport import WebsocketsTransport
from collab.crypto.auth import sign_challenge, sign_reader_challenge
from collab.crypto.epochs import Keyring, x25519_public
from collab.crypto.keys import RoomKeys
from collab.crypto.links import parse_link, websocket_url
from collab.protocol import close_codes
from collab.protocol import relay_frames as frames
from collab.protocol.envelope import EnvelopeType, Opened, new_author_id, seal_update
from collab.protocol.replay_guard import ReplayGuard
from collab.protocol.rotation import Removed, RotationError, open_rotation, parse_rotation

__all__ = ["EncryptedProvider", "FrameObserver", "Rejection"]

log = logging.getLogger(__name__)

# The hub sends a room's snapshot as one ENTRY (type and seq, 9 bytes, then the envelope), however
# many SNAPSHOT_PART frames it came in: accept one as large as the hub's --max-snapshot-bytes default.
MAX_INCOMING_FRAME = HUB_SNAPSHOT_LIMIT + 9

FrameObserver = Callable[[str, bytes], None]  # ("in" | "out", raw frame)


class _Conflict(ProviderError):
    """The hub took something else first at the head our rotation named: try again."""


class EncryptedProvider(ConnectorState):
    def __init__(
        self,
        keys: RoomKeys,
        ws_url: str,
        doc: pycrdt.Doc[Any] | None = None,
        awareness: pycrdt.Awareness | None = None,
        *,
        compact_every: int = 500,
        max_frame_bytes: int | None = None,
        on_rejected: Callable[[Rejection], None] | None = None,
        on_frame: FrameObserver | None = None,
        transport: Transport | None = None,
        backoff_initial: float = 0.1,
        backoff_max: float = 10.0,
        gap_wait: float = 2.0,
        device_key: X25519PrivateKey | None = None,
        device_name: str | None = None,
    ) -> None:
        self.keyring = Keyring(keys)
        # This device's X25519 key: a rotation seals the room's next keys to it (collab.client.roster).
        self.device_key = device_key
        self.device_name = device_name  # enrolled in the roster under this name once synced (writers)
        self.ws_url = ws_url
        self.doc = doc if doc is not None else pycrdt.Doc()
        self.awareness = awareness if awareness is not None else pycrdt.Awareness(self.doc)
        self.on_rejected = on_rejected
        self.on_frame = on_frame
        self.conn_id: int | None = None
        self.head = 0  # the hub's head as of the last SYNCED
        label = f"room {keys.room_id}"
        self.connector = Connector(
            ws_url,
            self,
            transport or WebsocketsTransport(max_size=MAX_INCOMING_FRAME),
            subprotocols=[frames.SUBPROTOCOL],
            goal="sync with the hub",
            label=label,
            backoff_initial=backoff_initial,
            backoff_max=backoff_max,
        )
        self.rejections = Rejections(label)
        self.refused_updates: list[str] = []  # our own envelopes the hub refused for good (NACK 2/3)

        self._author_id = new_author_id()
        self._update_seq = 0
        self._guard = ReplayGuard()
        self._outbox = Outbox(label)
        self._presence = SealedPresence(self.keyring, self.awareness, self._guard, self._reject)
        self._direct = SealedDirect(self.keyring, self._presence.remote, self._reject, self._wake_sender)
        self.direct: DirectMessages = self._direct.channel
        self._compactor = Compactor(
            self.keyring, self._author_id, self.doc, self._guard, every=compact_every, frame_limit=max_frame_bytes,
            label=label, log_hash=lambda seq: self._log.hash.at(seq),
        )
        self._local = LocalUpdates(self.doc, self._on_local_update)
        # Entries held or missing for ``gap_wait`` s after a sync: ask the hub again (issue 21).
        self._log = RoomLog(
            self.keyring, self._guard, self._local.apply_remote, self._reject_entry,
            on_update=self._count_for_snapshot, counter=self._compactor, ask_wait=gap_wait, on_fork=self._on_fork,
        )
        self.forks: list[str] = []  # what did not match between this client's log and others' (newest last)
        self._fork_seen: set[tuple[int, int]] = set()  # (peer client id, seq) already compared and said
        self._ahead: dict[int, tuple[int, float]] = {}  # peer -> (a seq it had and we lack, since when)
        self._asking_again: str | None = None
        self._warned_read_only = False
        self._wake = asyncio.Event()
        self._awareness_sub: str | None = None
        self._rotation: PendingRotation | None = None  # ours, sent and not yet in
        self.rotations = 0  # key epochs this provider moved to

    def _wake_sender(self) -> None:
        self._wake.set()

    @property
    def keys(self) -> RoomKeys:
        """The room's keys as of now: the current epoch's (``keyring`` has the earlier ones)."""
        return self.keyring.current

    @classmethod
    def from_link(cls, link: str, doc: pycrdt.Doc[Any] | None = None, awareness: pycrdt.Awareness | None = None,
                  **options: Any) -> "EncryptedProvider":
        parsed = parse_link(link)
        if parsed.keys is None:
            raise ProviderError("this link is for a plaintext room: it carries no key")
        return cls(parsed.keys, websocket_url(parsed.server_base, parsed.room), doc, awareness, **options)

    # -- the Provider contract -------------------------------------------------------------------

    @property
    def pending(self) -> int:
        return len(self._outbox)

    @property
    def refused(self) -> list[str]:
        return self.refused_updates

    @property
    def rejected(self) -> list[Rejection]:
        """The newest envelopes and presence states dropped (older ones are only counted)."""
        return self.rejections.recent

    @property
    def snapshots_made(self) -> int:
        return self._compactor.made

    @property
    def can_write(self) -> bool:
        return self.keys.can_write

    def send_direct(self, peer: int, message: dict[str, Any]) -> None:
        """Send ``message`` to the participant with Yjs client id ``peer`` alone, sealed (best effort:
        dropped when not connected or its presence has not reached us)."""
        self.direct.send(peer, message)

    def on_direct(self, callback: DirectHandler) -> Callable[[], None]:
        """``callback(sender's client id, message)`` for each direct message to us; returns the unsubscribe."""
        return self.direct.subscribe(callback)

    async def start(self, timeout: float | None = None) -> None:
        """Connect and wait for the first SYNCED (retrying meanwhile); ``timeout`` bounds the wait."""
        self._local.start()
        self._awareness_sub = self.awareness.observe(self._on_local_awareness)
        try:
            await self.connector.start(timeout)
        except ProviderError:
            await self.stop()
            raise

    async def stop(self, timeout: float = 5.0) -> None:
        if not self.connector.running:
            return
        sock = self.connector.socket
        if sock is not None and len(self._outbox) and self.fatal is None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._outbox.drained(), timeout)
        if self.awareness.get_local_state() is not None and self.connector.socket is not None:
            self.awareness.set_local_state(None)  # tells the others we left, sealed like any presence
            await asyncio.sleep(0)
        self.connector.leaving()
        self._wake.set()
        sock = self.connector.socket
        if sock is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._flush_awareness(sock), 1.0)
            with contextlib.suppress(Exception):
                await sock.close()
        await self.connector.stop()
        self._local.stop()
        if self._awareness_sub is not None:
            self.awareness.unobserve(self._awareness_sub)
            self._awareness_sub = None

    async def __aenter__(self) -> "EncryptedProvider":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def flush(self, timeout: float = 10.0) -> None:
        """Wait until the hub has acknowledged everything written so far."""
        await asyncio.wait_for(self._outbox.drained(), timeout)

    async def wait_idle(self) -> None:
        await self.connector.wait_until(lambda: self.status is Status.CONNECTED and not len(self._outbox))

    async def confirm(self, timeout: float = 10.0) -> bool:
        """Every change of ours is acknowledged, so stored: the hub ACKs only what its store has."""
        await self.flush(timeout)
        return True

    # -- one connection (the connector's RoomSession) --------------------------------------------

    def final_close(self, code: int, reason: str) -> str | None:
        message = ENCRYPTED_FINAL_CLOSES.get(code)
        if message is None:
            return None
        if code == close_codes.TOO_BIG:
            if self._compactor.caused_too_big(self._outbox.largest_sent()):
                return None  # our snapshot was the frame over the limit: edits carry on without it
            if len(self._outbox):
                message += f"; the largest change waiting is {self._outbox.largest():,} bytes sealed"
        return close_message(message, code, reason)

    def disconnected(self) -> None:
        self._direct.disconnected()
        self._presence.disconnected()
        self._compactor.abandon()
        self._log.disconnected()

    async def _send(self, sock: FrameSocket, frame: bytes) -> None:
        if self.on_frame is not None:
            self.on_frame("out", frame)
        await sock.send(frame)

    async def _recv(self, sock: FrameSocket) -> frames.Frame:
        data = await sock.recv()
        if self.on_frame is not None:
            self.on_frame("in", data)
        return frames.decode(data)

    async def serve(self, sock: FrameSocket) -> None:
        first = await self._recv(sock)
        if not isinstance(first, frames.Challenge):
            raise frames.ProtocolError("the hub did not start with CHALLENGE")
        # Readers sign too (with the key every member derives from the read secret): the hub admits
        # no stranger who only knows the room id. Rooms from before reader keys ignore the signature.
        sign = sign_challenge if self.can_write else sign_reader_challenge
        signature = sign(self.keys, first.challenge)
        role = frames.ROLE_WRITER if self.can_write else frames.ROLE_READER
        await self._send(sock, frames.hello(role, self._log.since, signature))
        ready = await self._recv(sock)
        if isinstance(ready, frames.Rotated):
            # Our keys are an older epoch's: the room's rotation has the new ones for this device.
            self._on_rotated(ready.envelope)
            raise ComeBack("the room's keys were rotated")
        if not isinstance(ready, frames.Ready):
            raise frames.ProtocolError("the hub did not answer HELLO with READY")
        self.conn_id = ready.conn_id
        self._direct.live = True
        self._outbox.restart()
        self._wake.set()  # re-send whatever is unacknowledged, in order
        state = self.awareness.get_local_state()
        if state is not None:
            # Again under a higher clock (its "local" update queues it): peers that saw our previous
            # connection LEFT ignore a state whose clock they have seen.
            self.awareness.set_local_state(state)
        self._asking_again = None
        helpers = [
            asyncio.create_task(self._send_loop(sock)),
            asyncio.create_task(keep_alive(self.awareness)),
            asyncio.create_task(self._ask_again_when_stuck(sock)),
            asyncio.create_task(self._gossip()),
        ]
        try:
            while True:
                self._handle(await self._recv(sock))
        except SocketClosed:
            if self._asking_again is not None:
                raise ComeBack(self._asking_again) from None
            raise
        finally:
            for task in helpers:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _send_loop(self, sock: FrameSocket) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while (frame := self._outbox.next_unsent()) is not None:
                await self._send(sock, frame)
            while self._compactor.outgoing:
                await self._send(sock, self._compactor.outgoing.popleft())
            await self._flush_awareness(sock)
            for frame in self._direct.take():
                await self._send(sock, frame)

    async def _ask_again_when_stuck(self, sock: FrameSocket) -> None:
        # HELLO since is the protocol's way to ask for entries again: end this connection and resume.
        missing, waited = await self._log.stuck()
        self._asking_again = f"{missing} for {waited:g} s: asking the hub again from seq {self._log.since}"
        log.warning("%s: %s", self.connector.label, self._asking_again)
        await sock.close()

    async def _flush_awareness(self, sock: FrameSocket) -> None:
        frame = self._presence.take()
        if frame is not None:
            await self._send(sock, frame)

    # -- frames from the hub ---------------------------------------------------------------------

    def _handle(self, frame: frames.Frame) -> None:
        if isinstance(frame, frames.Entry):
            self._log.entry(frame.seq, frame.envelope)
        elif isinstance(frame, frames.Ack):
            self._on_ack(frame.client_ref, frame.seq)
        elif isinstance(frame, frames.Nack):
            self._on_nack(frame)
        elif isinstance(frame, frames.AwarenessRelay):
            self._presence.received(frame.conn_id, frame.envelope)
        elif isinstance(frame, frames.DirectRelay):
            self._direct.received(frame.conn_id, frame.envelope)
        elif isinstance(frame, frames.Synced):
            self.head = frame.head
            self._log.synced(frame.head)
            self._enroll()
            self.connector.connection_synced()
            self._wake.set()
            self._maybe_compact()
        elif isinstance(frame, frames.Left):
            self._presence.left(frame.conn_id)
        elif isinstance(frame, frames.Rotated):
            self._on_rotated(frame.envelope)
        else:
            raise frames.ProtocolError(f"unexpected {type(frame).__name__.upper()} frame from the hub")

    def _reject(self, rejection: Rejection, peer: str) -> None:
        self.rejections.add(rejection, peer)
        if self.on_rejected is not None:
            self.on_rejected(rejection)

    def _reject_entry(self, seq: int, kind: str, exc: Exception) -> None:
        self._reject(Rejection(seq, kind, type(exc).__name__, str(exc)), "the room's log")

    def _on_ack(self, ref: int, seq: int) -> None:
        if self._compactor.acked(ref, seq):
            return
        if self._rotation is not None and ref == self._rotation.ref:
            self._adopt(self._rotation.envelope)
            return
        frame = self._outbox.ack(ref)
        self._log.acked(seq, frame[9:] if frame is not None else None)  # PUBLISH: type, ref, envelope
        self._count_for_snapshot()
        if not len(self._outbox) and self.synced.is_set():
            self.connector.set_status(Status.CONNECTED)
        self.connector.changed.set()

    def _on_nack(self, nack: frames.Nack) -> None:
        if self._compactor.nacked(nack.client_ref, nack.reason):
            return
        if self._rotation is not None and nack.client_ref == self._rotation.ref:
            pending, self._rotation = self._rotation, None
            if not pending.done.done():
                conflict = nack.code == frames.NackCode.SNAPSHOT_CONFLICT
                pending.done.set_exception(_Conflict(nack.reason) if conflict else ProviderError(f"rotation refused: {nack.reason}"))
            return
        if nack.client_ref == 0:
            log.warning("room %s: presence refused: %s", self.keys.room_id, nack.reason)
            return
        if nack.code == frames.NackCode.STORE_UNAVAILABLE:
            # Everything from here on stays queued; reconnecting re-sends it in order, so later
            # ACKs on this connection cannot leave a hole in our author sequence for others.
            raise ComeBack(f"the hub's store is unavailable: {nack.reason}")
        # Forbidden or invalid will never succeed: drop it so it does not block the queue.
        self._outbox.drop(nack.client_ref)
        self.refused_updates.append(f"NACK {nack.code}: {nack.reason}")
        log.error("room %s: hub refused our update for good (code %d): %s", self.keys.room_id, nack.code, nack.reason)
        self.connector.changed.set()

    # -- local changes ---------------------------------------------------------------------------

    def _on_local_awareness(self, topic: str, change: tuple[dict[str, Any], Any]) -> None:
        if topic == "update" and change[1] == "local":
            self._queue_awareness()

    def _queue_awareness(self) -> None:
        self._presence.seal_local()
        self._wake.set()

    def _on_local_update(self, update: bytes) -> None:
        if not self.can_write:
            if not self._warned_read_only:
                self._warned_read_only = True
                log.warning("room %s: read-only link: local edits stay on this machine", self.keys.room_id)
            return
        self._update_seq += 1
        envelope = seal_update(self.keys, self._author_id, self._update_seq, update)
        # Our own updates can come back in history after a resume: the guard must know them.
        self._guard.check(Opened(EnvelopeType.UPDATE, self._author_id, self._update_seq, 0, b""))
        ref = self._outbox.new_ref()
        self._outbox.add(ref, frames.publish(ref, envelope), update, self._update_seq)
        self._wake.set()
        self.connector.changed.set()

    # -- compaction ------------------------------------------------------------------------------

    def _count_for_snapshot(self) -> None:
        if self._compactor.counted():
            self._maybe_compact()

    def _can_snapshot(self) -> bool:
        # The doc must hold exactly entries 1..since: nothing of ours in flight, none missing or rejected.
        return (
            self.can_write
            and self.connector.socket is not None
            and self.synced.is_set()
            and self._compactor.in_flight is None
            and not len(self._outbox)
            and self._compactor.allowed(self._log.blocked())
            and self._log.since > 0
        )

    def _maybe_compact(self) -> None:
        if self._compactor.since >= self._compactor.every and self._can_snapshot():
            self._send_snapshot()

    def _send_snapshot(self) -> bool:
        if self._compactor.make(self._outbox.new_ref(), self._log.since):
            self._wake.set()
            return True
        return False

    async def compact(self, timeout: float = 30.0) -> int:
        """Seal the document as a snapshot of everything up to our head; returns the seq it covers."""
        await self.flush(timeout)
        if not self._can_snapshot():
            why = self._log.blocked() or "not synced, read-only, or a snapshot in flight"
            raise ProviderError(f"cannot snapshot now: {why}")
        self._compactor.done = asyncio.get_running_loop().create_future()
        self._send_snapshot()
        return await asyncio.wait_for(self._compactor.done, timeout)

    # -- key epochs (docs/e2ee.md, "Rotation") ----------------------------------------------------

    def _enroll(self) -> None:
        """List this device in the roster, so a rotation keeps it (writers only: readers cannot write)."""
        if self.device_key is None or self.device_name is None or not self.can_write:
            return
        roster.enroll(self.doc, x25519_public(self.device_key), self.device_name)

    def _on_rotated(self, envelope: bytes) -> None:
        """The room's rotation: a later epoch (move to it, or we were removed), or the current one's
        (a joiner of a rotated link learns the earlier epochs' keys from it)."""
        pending = self._rotation
        if pending is not None and envelope == pending.envelope:
            self._adopt(envelope)
            raise ComeBack(f"the room's keys were rotated to epoch {self.keys.epoch}")
        try:
            opened = open_rotation(envelope, self.keys, device_key=self.device_key)
        except Removed as exc:
            raise ProviderError(f"removed from this session: {exc}; ask for a new link") from None
        except RotationError as exc:
            self._reject(Rejection(None, "rotation", type(exc).__name__, str(exc)), "the hub")
            return
        if opened.log_hash is not None:
            self._log.check_hash(opened.ref, opened.log_hash, "the rotation")
        if opened.keys.epoch == self.keys.epoch:
            self.keyring.learn(opened.chain, opened.starts)
            return
        self._advance(opened.keys, opened.chain, opened.starts)
        raise ComeBack(f"the room's keys were rotated to epoch {self.keys.epoch}: reconnecting with the new ones")

    def _adopt(self, envelope: bytes) -> None:
        """Our own rotation is in: move to the keys we made."""
        pending, self._rotation = self._rotation, None
        if pending is None or self.keys.epoch >= pending.keys.epoch:
            return
        rot = parse_rotation(envelope)
        self._advance(pending.keys, dict(self.keyring.past), {**self.keyring.starts, rot.epoch: rot.ref})
        roster.drop(self.doc, pending.removed)
        if not pending.done.done():
            pending.done.set_result(self.keys)

    def _advance(self, keys: RoomKeys, chain: dict[int, RoomKeys], starts: dict[int, int]) -> None:
        self.keyring.advance(keys, chain, starts)
        self.rotations += 1
        log.info("room %s: now at key epoch %d", keys.room_id, keys.epoch)
        if keys.can_write:
            author = self._author_id
            self._outbox.reseal(lambda ref, seq, update: frames.publish(ref, seal_update(self.keys, author, seq, update)))
        self.connector.changed.set()

    async def rotate(self, remove: tuple[str, ...] = (), timeout: float = 30.0) -> RoomKeys:
        """Move the room to its next key epoch, keeping every device in the roster except those
        named in ``remove``; returns the new keys (their links are the new links). Someone else's
        edit landing first (the hub takes a rotation only at the head it names) is retried."""
        if not self.can_write:
            raise ProviderError("only a write link can rotate the room's keys")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                return await self._rotate_once(remove, deadline)
            except _Conflict:
                if loop.time() > deadline:
                    raise ProviderError("cannot rotate now: the room keeps moving (others are writing)") from None
                await asyncio.sleep(0.2)  # the entry that came first arrives meanwhile

    async def _rotate_once(self, remove: tuple[str, ...], deadline: float) -> RoomKeys:
        loop = asyncio.get_running_loop()
        while True:
            await self.flush(max(0.1, deadline - loop.time()))
            blocked = self._log.blocked()
            sock = self.connector.socket
            if blocked is None and sock is not None and self._log.live and self._rotation is None:
                break
            if loop.time() > deadline:
                raise ProviderError(f"cannot rotate now: {blocked or 'not connected'}")
            await asyncio.sleep(0.05)
        devices = [d for d in roster.roster(self.doc) if d.name not in remove]
        own = x25519_public(self.device_key) if self.device_key is not None else None
        pending = prepare_rotation(
            self.keyring, devices, remove, ref=self._outbox.new_ref(), covers=self._log.since, own_device=own,
            loop=loop, log_hash=self._log.hash.at(self._log.since),
        )
        self._rotation = pending
        await sock.send(frames.rotate(pending.ref, pending.envelope))
        try:
            return await asyncio.wait_for(asyncio.shield(pending.done), max(0.1, deadline - loop.time()))
        finally:
            if self._rotation is pending and pending.done.done():
                self._rotation = None

    # -- fork detection (collab.protocol.log_hash) -------------------------------------------------

    @property
    def log_code(self) -> str:
        """The short code of the log this client holds (seq:hash), for people to compare out of band."""
        return self._log.hash.code

    def _on_fork(self, message: str) -> None:
        self.forks.append(message)
        del self.forks[:-100]
        log.warning("%s: %s", self.connector.label, message)

    async def _gossip(self, every: float = 1.0) -> None:
        """Put (epoch, seq, hash) of our log into our presence, and compare the peers' with ours."""
        while True:
            await asyncio.sleep(every)
            self.check_peers()
            state = self.awareness.get_local_state()
            if state is None or not self._log.hash.anchored:
                continue
            mine = {"e": self.keys.epoch, "s": self._log.hash.seq, "h": self._log.hash.digest[:16].hex()}
            if state.get("log") != mine:
                self.awareness.set_local_state({**state, "log": mine})

    def check_peers(self) -> None:
        """Compare every peer's gossiped log hash with ours at the same seq (each pair once)."""
        for client_id, state in self.awareness.states.items():
            gossip = state.get("log") if isinstance(state, dict) and client_id != self.awareness.client_id else None
            if not isinstance(gossip, dict) or gossip.get("e") != self.keys.epoch:
                continue
            seq, digest = gossip.get("s"), gossip.get("h")
            if type(seq) is not int or not isinstance(digest, str) or (client_id, seq) in self._fork_seen:
                continue
            try:
                raw = bytes.fromhex(digest)
            except ValueError:
                continue
            if seq > self._log.hash.seq:
                self._peer_ahead(client_id, seq)
                continue
            if self._log.hash.at(seq) is None:
                continue
            if len(self._fork_seen) > 10_000:
                self._fork_seen.clear()
            self._fork_seen.add((client_id, seq))
            self._log.check_hash(seq, raw, f"participant {client_id}")

    def _peer_ahead(self, client_id: int, seq: int, patience: float = 3.0) -> None:
        """A peer has seen entries we lack: normal for a moment; for ``patience`` s while the hub says
        we have everything, the hub is withholding them from us (or served us an old snapshot)."""
        now = asyncio.get_running_loop().time()
        target, since = self._ahead.setdefault(client_id, (seq, now))
        if self._log.hash.seq >= target:
            self._ahead[client_id] = (seq, now)
            return
        if now - since < patience or not self._log.live or self._log.missing() is not None:
            return
        self._ahead[client_id] = (seq, float("inf"))  # said once for this spell
        self._on_fork(
            f"participant {client_id} has seen the room's log up to seq {target}, but the hub says this "
            f"client has everything at seq {self._log.hash.seq}: the hub may be withholding entries "
            "(or serving an old snapshot)"
        )
