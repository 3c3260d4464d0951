"""The connection loop every provider shares: connect, serve, classify the end, back off, retry.

A provider supplies only its room protocol over one connection (a ``RoomSession``); the
``Connector`` owns the rest, the same for both kinds of room:

- connect through a ``Transport`` (``collab.client.transport``; real websockets by default);
- after each connection, decide from how it ended: a final close (the kind's table in
  ``collab.client.closes``, or what the session says), an HTTP refusal, a bad address, or an error
  the session raised as ``ProviderError`` end the provider with that message; anything else is
  retried with exponential backoff and full jitter;
- before the first sync the first failure is the answer (refused, bad certificate, HTTP status):
  waiting out a timeout would only hide it; only the closes by which the hub asks us to come back
  (``close_codes.RETRYABLE``, or ``ComeBack`` from the session) are retried then;
- a connection that synced starts the backoff over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from typing import Callable, Protocol, Sequence

from collab.client.closes import final_http_status
from collab.client.provider import ProviderError, Status
from collab.client.transport import BadFrame, ConnectFailed, FrameSocket, SocketClosed, Transport, describe_close
from collab.protocol import close_codes, relay_frames, yjs

log = logging.getLogger(__name__)

# Frames a hub should never send: reconnect (or, before a first sync, say so and stop).
MALFORMED = (BadFrame, yjs.ProtocolError, relay_frames.ProtocolError)


class ComeBack(Exception):
    """Raised by a session: end this connection and reconnect after backoff, keeping everything
    queued, even before a first sync (the hub said it cannot take our frames right now)."""


class RoomSession(Protocol):
    """One provider's room protocol over one connection."""

    async def serve(self, sock: FrameSocket) -> None:
        """Speak the protocol until the connection ends (SocketClosed from the socket), or raise
        ComeBack to reconnect, or ProviderError to stop for good."""
        ...

    def final_close(self, code: int, reason: str) -> str | None:
        """The message for a close after which retrying cannot help, or None to reconnect."""
        ...

    def disconnected(self) -> None:
        """The connection is gone: forget what was heard through it, keep what is queued."""
        ...


class Connector:
    def __init__(
        self,
        url: str,
        session: RoomSession,
        transport: Transport,
        *,
        subprotocols: Sequence[str] = (),
        goal: str = "reach the hub",
        label: str = "",
        backoff_initial: float = 0.1,
        backoff_max: float = 5.0,
    ) -> None:
        self.url = url
        self.session = session
        self.transport = transport
        self.subprotocols = tuple(subprotocols)
        self.goal = goal  # "could not <goal> at <url>": what start() could not do
        self.label = label or url  # names this provider in log lines
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.status = Status.CONNECTING
        self.synced = asyncio.Event()  # set at the first sync with the hub, never cleared
        self.changed = asyncio.Event()  # set on every change of status (providers add their own)
        self.fatal: ProviderError | None = None
        self.last_error: str | None = None  # why the last connection attempt ended, for the person
        self.socket: FrameSocket | None = None  # the open connection, while there is one
        self.connects = 0  # connections opened so far
        self._syncs = 0  # connections that synced so far
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    # -- what sessions tell the connector ---------------------------------------------------------

    def set_status(self, status: Status) -> None:
        if self.status is not status:
            self.status = status
            log.debug("%s: %s", self.label, status.value)
        self.changed.set()

    def connection_synced(self) -> None:
        """This connection caught up with the hub: CONNECTED, and a later loss backs off from the start."""
        self._syncs += 1
        self.synced.set()
        self.set_status(Status.CONNECTED)

    # -- lifecycle --------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._task is not None

    async def start(self, timeout: float | None) -> None:
        """Run the loop and wait for the first sync; raise the first final failure, or when ``timeout`` ends."""
        self._task = asyncio.create_task(self._run(), name=f"collab-provider {self.label}")
        waiter = asyncio.create_task(self.synced.wait())
        try:
            await asyncio.wait({waiter, self._task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
        if self.fatal is not None:
            raise self.fatal
        if not self.synced.is_set():
            within = f" within {timeout:g} s" if timeout is not None else ""
            last = f" (last error: {self.last_error})" if self.last_error else ""
            raise ProviderError(f"could not {self.goal} at {self.url}{within}{last}")

    def leaving(self) -> None:
        """The provider is saying goodbye: the close that follows is neither retried nor reported."""
        self._stopping.set()

    async def stop(self) -> None:
        """End the loop (the session's own goodbye, if any, comes before this)."""
        self._stopping.set()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.set_status(Status.CLOSED)

    async def wait_until(self, ready: Callable[[], bool]) -> None:
        """Until ``ready()`` holds, re-checked at each change; raises once the provider has ended."""
        while not ready():
            if self.fatal is not None:
                raise self.fatal
            if self.status is Status.CLOSED:
                raise ProviderError("provider is closed")
            self.changed.clear()
            await self.changed.wait()

    # -- the loop ---------------------------------------------------------------------------------

    def _fail(self, message: str) -> None:
        self.fatal = ProviderError(message)
        # Info, not error: whoever started the provider gets the message and tells the person once.
        log.info("%s: %s", self.label, message)
        self.set_status(Status.CLOSED)

    async def _run(self) -> None:
        delay = self.backoff_initial
        while not self._stopping.is_set():
            syncs = self._syncs
            failure, come_back, final = await self._connect_once()
            if self._stopping.is_set():
                return
            if final is not None:
                self._fail(final)
                return
            if self._syncs > syncs:
                delay = self.backoff_initial  # that connection worked: a new loss starts the backoff over
            self.last_error = failure
            if not self.synced.is_set() and not come_back:
                self._fail(f"could not {self.goal} at {self.url}: {failure}")
                return
            log.info("%s: connection lost (%s); retrying", self.label, failure)
            self.set_status(Status.OFFLINE)
            # Full jitter: many clients losing one hub must not all come back in the same instant.
            await asyncio.sleep(random.uniform(delay / 2, delay))
            delay = min(delay * 2, self.backoff_max)

    async def _connect_once(self) -> tuple[str, bool, str | None]:
        """One connection: (why it ended, whether the hub asked us back, the final message or None)."""
        try:
            sock = await self.transport.connect(self.url, self.subprotocols)
        except ConnectFailed as exc:
            if exc.permanent:
                return str(exc), False, str(exc)
            if exc.status is not None and final_http_status(exc.status):
                return str(exc), False, f"the hub refused the connection with HTTP {exc.status}"
            return str(exc), False, None
        self.socket = sock
        self.connects += 1
        try:
            try:
                await self.session.serve(sock)
                code, reason = sock.close_code, sock.close_reason
            except SocketClosed as exc:
                code, reason = exc.code, exc.reason
            failure = describe_close(code, reason)
            if code is None:
                return failure, False, None
            # Asked before the session hears that the connection is gone: it may know the cause.
            return failure, code in close_codes.RETRYABLE, self.session.final_close(code, reason)
        except ComeBack as exc:
            return str(exc), True, None
        except ProviderError as exc:
            return str(exc), False, str(exc)
        except MALFORMED as exc:
            log.warning("%s: malformed frame from the hub (%s); reconnecting", self.label, exc)
            return f"malformed frame: {exc}", False, None
        except OSError as exc:
            return str(exc) or type(exc).__name__, False, None
        except Exception as exc:
            # A bug of ours must not leave a provider that looks alive and syncs nothing.
            log.exception("%s: the client failed", self.label)
            return repr(exc), False, f"the client failed: {exc!r} (please report this)"
        finally:
            self.socket = None
            with contextlib.suppress(Exception):
                await asyncio.wait_for(sock.close(), 2)
            self.session.disconnected()


class ConnectorState:
    """What a provider reads from its Connector: the Provider contract's connection properties."""

    connector: Connector

    @property
    def synced(self) -> asyncio.Event:
        return self.connector.synced

    @property
    def status(self) -> Status:
        return self.connector.status

    @property
    def fatal(self) -> ProviderError | None:
        return self.connector.fatal

    @property
    def last_error(self) -> str | None:
        return self.connector.last_error
