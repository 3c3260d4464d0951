"""One pub/sub connection to one Redis server or cluster node, read by an asyncio Protocol.

Every message a hub hears from another hub (and every one of its own, echoed back: pub/sub has no
"not to me") went through redis-py's PubSub.get_message: a task waking per message, a timeout per
call and its RESP parser, about 17 µs of CPU per message against about 4 µs here, where each
message is parsed and handed to the broker straight from ``data_received`` (bench/PROFILE.md).

Same duties as the broker's redis-py Link: (S)SUBSCRIBE and wait for the confirmation, (S)UNSUBSCRIBE,
and say when the connection is gone so the broker subscribes its rooms again and catches them up.
A connection that stays silent is checked: after HEALTH_S without a byte it sends PING, and if
nothing comes back within OP_TIMEOUT it is taken for dead (a peer gone without a FIN or RST) (redis-py did the same with
``health_check_interval``). For redis:// and unix:// URLs (collab.redis.script_link.supported).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable, Final

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from collab.redis.address import Address
from collab.redis.connection import CONNECT_TIMEOUT, OP_TIMEOUT
from collab.redis.script_link import _INCOMPLETE, pack, parse

log = logging.getLogger(__name__)

HEALTH_S: Final = 5.0
_MESSAGES: Final = (b"message", b"smessage")
_CONFIRMS: Final = (b"subscribe", b"ssubscribe")


class _Protocol(asyncio.Protocol):
    def __init__(self, link: "PubSubLink") -> None:
        self.link = link
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        link = self.link
        link.heard_at = time.monotonic()
        self.buffer += data
        pos = 0
        try:
            while True:
                reply, after = parse(self.buffer, pos)
                if reply is _INCOMPLETE:
                    break
                pos = after
                link.on_reply(reply)
        except (ValueError, RedisConnectionError, ResponseError) as exc:
            link.fail(f"bad reply from Redis: {exc}")
            return
        if pos:
            del self.buffer[:pos]

    def connection_lost(self, exc: Exception | None) -> None:
        self.link.fail(str(exc) if exc else "Redis closed the connection")


class PubSubLink:
    """The broker's Link (collab.broker.redis) on a lean connection: same methods, same duties."""

    def __init__(self, url: str, *, sharded: bool, deliver: Callable[[bytes, bytes], None],
                 lost: Callable[["PubSubLink"], None], health_s: float = HEALTH_S,
                 answer_s: float = OP_TIMEOUT) -> None:
        self._address = Address.from_url(url)
        self.sharded = sharded
        self.channels: set[str] = set()
        self._deliver = deliver
        self._lost = lost
        self._proto: _Protocol | None = None
        self._connecting: asyncio.Lock = asyncio.Lock()
        self._confirmed: dict[bytes, asyncio.Event] = {}
        self._watchdog: asyncio.Task[None] | None = None
        self.heard_at = time.monotonic()
        self._health_s, self._answer_s = health_s, answer_s
        self.dead = False

    # -- the broker's side -------------------------------------------------------------------

    async def add(self, name: str) -> None:
        event = self._confirmed.setdefault(name.encode(), asyncio.Event())
        await self._send(pack(("SSUBSCRIBE" if self.sharded else "SUBSCRIBE", name)))
        self.channels.add(name)
        # Wait for the server's confirmation: only then are later publishes sure to reach us.
        await asyncio.wait_for(event.wait(), OP_TIMEOUT)
        if self.dead:  # woken by fail(), not by a confirmation
            raise RedisConnectionError("pub/sub connection lost while subscribing")

    def confirmed(self, name: str) -> bool:
        event = self._confirmed.get(name.encode())
        return event is not None and event.is_set()

    async def remove(self, name: str) -> None:
        self.channels.discard(name)
        self._confirmed.pop(name.encode(), None)
        if not self.dead and self._proto is not None:
            await self._send(pack(("SUNSUBSCRIBE" if self.sharded else "UNSUBSCRIBE", name)))

    async def close(self) -> None:
        self.dead = True
        if self._watchdog is not None and self._watchdog is not asyncio.current_task():
            self._watchdog.cancel()
        proto, self._proto = self._proto, None
        if proto is not None and proto.transport is not None:
            proto.transport.abort()

    # -- the connection's side ---------------------------------------------------------------

    def on_reply(self, reply: object) -> None:
        if isinstance(reply, ResponseError):  # a refused (S)SUBSCRIBE (MOVED, NOAUTH...): start over
            self.fail(f"Redis refused: {reply}")
            return
        if not isinstance(reply, list) or len(reply) < 3:
            return  # +OK of AUTH, the pong of a health check
        kind = reply[0]
        if kind in _MESSAGES:
            try:
                self._deliver(reply[1], reply[2])
            except Exception:  # one bad message must not take the connection down
                log.exception("delivering a pub/sub message failed")
        elif kind in _CONFIRMS:
            event = self._confirmed.get(reply[1])
            if event is not None:
                event.set()

    def fail(self, reason: str) -> None:
        if self.dead:
            return
        log.warning("redis pub/sub connection lost: %s", reason)
        self.dead = True
        for event in self._confirmed.values():
            event.set()  # wakes add(), which sees ``dead``; confirmed() is read with ``dead`` too
        proto, self._proto = self._proto, None
        if proto is not None and proto.transport is not None:
            proto.transport.abort()
        self._lost(self)

    async def _send(self, command: bytes) -> None:
        if self.dead:
            raise RedisConnectionError("pub/sub connection is closed")
        if self._proto is None:
            async with self._connecting:
                if self._proto is None:
                    await self._connect()
        assert self._proto is not None and self._proto.transport is not None
        self._proto.transport.write(command)

    async def _connect(self) -> None:
        async with asyncio.timeout(CONNECT_TIMEOUT):
            proto = await self._address.open(lambda: _Protocol(self))
        auth = self._address.auth()
        if auth is not None:
            assert proto.transport is not None
            proto.transport.write(pack(auth))  # a refusal comes back as an error reply: fail()
        self._proto = proto
        self.heard_at = time.monotonic()
        self._watchdog = asyncio.create_task(self._watch(), name="collab-redis-pubsub-health")

    async def _watch(self) -> None:
        while not self.dead:
            await asyncio.sleep(self._health_s / 5)
            if time.monotonic() - self.heard_at < self._health_s or self._proto is None:
                continue
            assert self._proto.transport is not None
            asked = time.monotonic()
            self._proto.transport.write(pack(("PING",)))
            await asyncio.sleep(self._answer_s)
            if not self.dead and self.heard_at < asked:
                self.fail("no answer to PING")
