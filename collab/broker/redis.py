"""Fan-out between hubs over Redis pub/sub, with catch-up from the room's stream.

- One channel per room (``collab:{room}:relay``), subscribed only while the room is loaded here.
  Against a Redis Cluster the channels are sharded (SSUBSCRIBE/SPUBLISH on the node that owns the
  room's slot), so traffic of a room stays on one node instead of being broadcast cluster-wide.
- ``publish`` never waits: messages go to a bounded queue that a background task pipelines out,
  a room's several queued messages as one bundle (collab.redis.bundle). When the queue is full a
  message is dropped; other hubs notice the missing seq and read it back from the stream, so
  dropping costs latency, not data.
- With a RedisStore on the same Redis (``appends``), log entries are not published here: the
  store's append script publishes them itself, one round trip per group commit for both, each
  commit's entries of a room as one bundle. Only presence and the encrypted rooms' notices come
  through this queue.
- Pub/sub is fire-and-forget, so every room keeps a watermark: the highest seq up to which this hub
  has seen every entry. A seq that skips ahead, a head in Redis beyond the watermark that does not
  move for one tick, or a pub/sub connection that came back after a drop: each makes the broker read
  the missing entries from the stream and deliver them to the room like any relay message.
- Hub heartbeats (collab.broker.heartbeat) tell when another hub died, so its clients' presence goes.
- Each pub/sub connection is read by collab.redis.pubsub_link (messages parsed and delivered
  straight from the socket's data callback) for redis:// and unix:// URLs; over TLS by redis-py's
  PubSub (``Link`` below).
"""

from __future__ import annotations

import asyncio
import logging
import struct
import weakref
from dataclasses import dataclass
from typing import Callable, Final, Protocol

from redis.asyncio import Redis, RedisCluster
from redis.asyncio.client import PubSub
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from collab.broker.base import Handler, HubLost
from collab.broker.heartbeat import Heartbeats
from collab.protocol import relay
from collab.redis.bundle import BUNDLE, bundles, unbundle
from collab.redis.connection import OP_TIMEOUT, Client, connect, node_url, server_client
from collab.redis.keys import channel, room_key
from collab.redis.log import read_log
from collab.redis.pubsub_link import PubSubLink
from collab.redis.script_link import supported
from collab.watermark import Watermark

log = logging.getLogger(__name__)

CATCH_UP_ID = bytes(16)  # hub id of relay messages the broker read back from the stream
# The header of a relay message (collab.protocol.relay: kind, hub id, seq), read in place: every
# update passes publish() on its hub and _deliver_one() on each other hub, and decode_relay's
# RelayMessage and payload copy cost 1.5 us where this costs 0.12 (timeit, a 60-byte update).
_RELAY_HEADER: Final = struct.Struct(">B16sQ")
assert _RELAY_HEADER.size == relay.HEADER_SIZE
_HUB_AT_BUNDLE = 1 + 4 + 1  # where a bundle's first message has its hub id: after BUNDLE, its length, its kind


class PublishingAppends(Protocol):
    """A store whose appends can publish themselves (collab.store.redis.RedisStore)."""

    def publish_appends(self, hub_id: bytes, subscribed: Callable[[str], bool], heard: Callable[[str], int]) -> None: ...


@dataclass
class Subscription:
    handler: Handler
    mark: Watermark
    link: "Link | PubSubLink | None" = None
    last_tick: int = -1  # ``mark.upto`` at the previous tick: unchanged twice means the hole is real


class Link:
    """One pub/sub connection (to the server, or to one cluster node) and the channels it carries,
    through redis-py's PubSub: for the URLs collab.redis.pubsub_link does not take (TLS)."""

    def __init__(self, client: Redis, *, sharded: bool, deliver: Callable[[bytes, bytes], None],
                 lost: Callable[["Link"], None]) -> None:
        self.client = client
        self.sharded = sharded
        self.channels: set[str] = set()
        self._deliver = deliver
        self._lost = lost
        self._pubsub: PubSub | None = None
        self._reader: asyncio.Task[None] | None = None
        self._confirmed: dict[bytes, asyncio.Event] = {}
        # One (un)subscribe at a time: redis-py's PubSub takes its connection on the first command,
        # and rooms subscribing at once each took one of their own, so the confirmations of all but
        # one went to connections nobody read (7 of 32 rooms loading together failed to load).
        self._lock = asyncio.Lock()
        self.dead = False

    async def add(self, name: str) -> None:
        if self._pubsub is None:
            self._pubsub = self.client.pubsub()
        event = self._confirmed.setdefault(name.encode(), asyncio.Event())
        async with self._lock:
            await (self._pubsub.ssubscribe(name) if self.sharded else self._pubsub.subscribe(name))
        self.channels.add(name)
        if self._reader is None:
            self._reader = asyncio.create_task(self._read(), name="collab-redis-pubsub")
        # Wait for the server's confirmation: only then are later publishes sure to reach us.
        await asyncio.wait_for(event.wait(), OP_TIMEOUT)

    def confirmed(self, name: str) -> bool:
        event = self._confirmed.get(name.encode())
        return event is not None and event.is_set()

    async def remove(self, name: str) -> None:
        self.channels.discard(name)
        self._confirmed.pop(name.encode(), None)
        if self._pubsub is not None and not self.dead:
            async with self._lock:
                await (self._pubsub.sunsubscribe(name) if self.sharded else self._pubsub.unsubscribe(name))

    async def _read(self) -> None:
        assert self._pubsub is not None
        try:
            while True:
                message = await self._pubsub.get_message(timeout=1.0)
                if message is None:
                    continue
                kind = message["type"]
                kind = kind.decode() if isinstance(kind, bytes) else kind
                if kind in ("message", "smessage"):
                    self._deliver(message["channel"], message["data"])
                elif kind in ("subscribe", "ssubscribe"):
                    event = self._confirmed.get(message["channel"])
                    if event is not None:
                        event.set()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # connection lost, node gone, slot moved: the broker rebuilds
            log.warning("redis pub/sub connection lost: %s", exc or type(exc).__name__)
            self.dead = True
            self._lost(self)

    async def close(self) -> None:
        self.dead = True
        if self._reader is not None and self._reader is not asyncio.current_task():
            self._reader.cancel()
        if self._pubsub is not None:
            try:
                await self._pubsub.aclose()  # type: ignore[no-untyped-call]  # (redis-py leaves it unannotated)
            except Exception:
                pass
        await self.client.aclose()


class RedisBroker:
    def __init__(self, url: str, *, queue_limit: int = 10_000, tick: float = 1.0, hub_ttl_ms: int = 3000,
                 appends: PublishingAppends | None = None) -> None:
        self.url = url
        self._appends = appends
        self._store_publishes = False  # log entries are published by the store's append script
        self.queue_limit = queue_limit
        self.tick = tick
        self.heartbeats = Heartbeats(hub_ttl_ms)
        self.dropped = 0  # messages not published (queue full or Redis down)
        self.caught_up = 0  # entries read back from streams because pub/sub missed them
        self._redis: Client | None = None
        self._rooms: dict[str, Subscription] = {}
        self._by_channel: dict[bytes, str] = {}
        self._parked: dict[str, tuple[weakref.WeakMethod[Handler], Watermark]] = {}
        self._links: dict[str, Link | PubSubLink] = {}
        self._orphans: set[str] = set()  # rooms whose link died, waiting to be subscribed again
        self._queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue(queue_limit)
        self._tasks: list[asyncio.Task[None]] = []
        self._repair: asyncio.Event = asyncio.Event()
        self._closing = False

    @property
    def redis(self) -> Client:
        assert self._redis is not None, "broker is not started"
        return self._redis

    @property
    def sharded(self) -> bool:
        return isinstance(self._redis, RedisCluster)

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        self._redis = await connect(self.url)
        self._tasks = [
            asyncio.create_task(self._publish_loop(), name="collab-redis-publisher"),
            asyncio.create_task(self._maintain(), name="collab-redis-maintenance"),
            asyncio.create_task(self._repair_loop(), name="collab-redis-resubscribe"),
        ]

    async def close(self) -> None:
        self._closing = True
        await self._flush(timeout=2.0)
        for task in self._tasks:
            task.cancel()
        for link in list(self._links.values()):
            await link.close()
        self._links.clear()
        if self._redis is not None:
            try:
                await asyncio.wait_for(self.heartbeats.stop(self._redis), 2.0)
            except Exception:
                pass
            await self._redis.aclose()
            self._redis = None

    def watch_hubs(self, own_id: bytes, on_lost: HubLost) -> None:
        """Heartbeat as ``own_id``; call ``on_lost(hub_id)`` when another hub stops heartbeating."""
        self.heartbeats.own_id = own_id
        self.heartbeats.on_lost = on_lost
        if self._appends is not None:
            self._appends.publish_appends(own_id, self.subscribed_here, self.heard_upto)
            self._store_publishes = True

    # -- subscriptions ---------------------------------------------------------------------------

    def heard_upto(self, room: str) -> int:
        """The seq up to which every entry of ``room`` reached its handler here (0 if not subscribed):
        this hub's own after they were applied, the others' as they came or were read back, and
        everything up to the head read on subscribing through the room's load that follows."""
        sub = self._rooms.get(room)
        return sub.mark.upto if sub is not None else 0

    def subscribed_here(self, room: str) -> bool:
        """Whether Redis has confirmed this hub's subscription to the room's channel, on a link
        still alive: the store's append script then publishes only if another hub subscribes too.
        (A link dropped by Redis and not yet noticed here makes that script skip a publish another
        hub wanted: that hub reads the entry back from the stream within two ticks, as for any
        message pub/sub lost.)"""
        sub = self._rooms.get(room)
        link = sub.link if sub is not None else None
        return link is not None and not link.dead and link.confirmed(channel(room))

    async def subscribe(self, room: str, handler: Handler) -> None:
        parked = self._parked.pop(room, None)
        resumed = parked is not None and parked[0]() == handler
        mark = parked[1] if parked is not None and resumed else Watermark()
        sub = Subscription(handler, mark)
        self._rooms[room] = sub
        self._by_channel[channel(room).encode()] = room
        try:
            await self._attach(room, sub)
            if resumed:
                await self._catch_up(room)  # what others wrote while the room was unsubscribed here
            else:
                # The room loads the store after this returns, so anything up to the current head
                # reaches it through that load; anything later reaches us through the channel.
                mark.advance(int(await asyncio.wait_for(self.redis.get(room_key(room, "head")), OP_TIMEOUT) or 0))
        except BaseException:
            await self.unsubscribe(room)
            raise

    async def unsubscribe(self, room: str) -> None:
        sub = self._rooms.pop(room, None)
        self._by_channel.pop(channel(room).encode(), None)
        self._orphans.discard(room)
        if sub is None:
            return
        try:
            self._parked[room] = (weakref.WeakMethod(sub.handler), sub.mark)
        except TypeError:
            pass  # a plain function: nothing to resume
        while len(self._parked) > 1000:
            self._parked.pop(next(iter(self._parked)))
        if sub.link is not None and not sub.link.dead:
            try:
                await asyncio.wait_for(sub.link.remove(channel(room)), OP_TIMEOUT)
            except Exception as exc:
                log.debug("unsubscribe %s: %s", room, exc)

    async def _attach(self, room: str, sub: Subscription) -> None:
        link = await self._link_for(channel(room))
        sub.link = link
        try:
            await link.add(channel(room))
        except BaseException:
            sub.link = None
            if not link.dead:  # its connection is suspect: start over with a fresh one
                link.dead = True
                self._link_lost(link)
            raise

    async def _link_for(self, name: str) -> Link | PubSubLink:
        if self.sharded:
            cluster = self.redis
            assert isinstance(cluster, RedisCluster)
            node = cluster.get_node_from_key(name)
            if node is None:  # the slot has no known owner (the topology is being re-read)
                raise RedisConnectionError(f"no cluster node serves {name}")
            where, host, port = node.name, node.host, int(node.port)
        else:
            where, host, port = "server", None, None
        link = self._links.get(where)
        if link is None or link.dead:
            url = node_url(self.url, host, port)
            if supported(url):  # the lean reader (collab.redis.pubsub_link); TLS keeps redis-py's
                link = PubSubLink(url, sharded=self.sharded, deliver=self._deliver, lost=self._link_lost)
            else:
                link = Link(server_client(url), sharded=self.sharded, deliver=self._deliver, lost=self._link_lost)
            self._links[where] = link
        return link

    def _link_lost(self, link: "Link | PubSubLink") -> None:
        for where, known in list(self._links.items()):
            if known is link:
                del self._links[where]
        for room, sub in self._rooms.items():
            if sub.link is link:
                sub.link = None
                self._orphans.add(room)
        asyncio.create_task(link.close())
        self._repair.set()

    async def _repair_loop(self) -> None:
        """Subscribe orphaned rooms again (with backoff while Redis is away), then catch them up."""
        delay = 0.1
        while True:
            await self._repair.wait()
            while self._orphans and not self._closing:
                if isinstance(self.redis, RedisCluster):
                    try:
                        # RedisCluster.initialize() reads the topology only once per client; a
                        # failover needs the slot map read again, or we dial the dead master
                        # forever (since log entries are published by the store's script, no
                        # command of ours meets the dead node and refreshes it for us).
                        await asyncio.wait_for(self.redis.nodes_manager.initialize(), OP_TIMEOUT)
                    except Exception as exc:
                        log.debug("cluster topology refresh failed: %s", exc)
                room = next(iter(self._orphans))
                sub = self._rooms.get(room)
                if sub is None:
                    self._orphans.discard(room)
                    continue
                try:
                    await self._attach(room, sub)
                    await self._catch_up(room)
                except Exception as exc:
                    sub.link = None
                    log.debug("resubscribing %s failed (%s); retrying in %.1f s", room, exc, delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
                    continue
                self._orphans.discard(room)
                delay = 0.1
                log.info("room %s: pub/sub is back and caught up", room)
            self._repair.clear()

    # -- receiving -------------------------------------------------------------------------------

    def _deliver(self, channel_name: bytes, data: bytes) -> None:
        room = self._by_channel.get(channel_name)
        sub = self._rooms.get(room) if room is not None else None
        if sub is None:
            return
        own = self.heartbeats.own_id
        at = _HUB_AT_BUNDLE if data[:1] == BUNDLE else 1
        if own is not None and data[at : at + 16] == own:
            # Our own message or bundle (a bundle holds one hub's messages), echoed back by Redis
            # to every subscriber, us too: dropped before it is taken apart or decoded.
            return
        try:
            for one in unbundle(data):
                self._deliver_one(sub, one)
        except ValueError as exc:
            log.warning("room %s: dropping the rest of a malformed relay bundle: %s", room, exc)

    def _deliver_one(self, sub: Subscription, data: bytes) -> None:
        if len(data) < relay.HEADER_SIZE:
            return
        kind, hub_id, seq = _RELAY_HEADER.unpack_from(data)
        if hub_id == self.heartbeats.own_id:
            return  # our own message, echoed back by Redis
        self.heartbeats.heard(hub_id)
        if kind == relay.UPDATE:
            sub.mark.saw(seq)
        sub.handler(data)

    async def _catch_up(self, room: str) -> None:
        """Read what the room's watermark lacks from the stream and deliver it."""
        sub = self._rooms.get(room)
        if sub is None:
            return
        since = sub.mark.upto
        room_log = await asyncio.wait_for(read_log(self.redis, room, since), OP_TIMEOUT)
        if self._rooms.get(room) is not sub:
            return
        delivered = 0
        if room_log.snapshot is not None:
            # Entries were compacted away before we saw them. A plaintext snapshot is a Yjs update
            # like any other; an encrypted one is not an entry, and its clients resync on their own.
            kind = await self.redis.hget(room_key(room, "info"), "kind")
            if kind != b"encrypted":
                sub.handler(relay.encode_relay(relay.UPDATE, CATCH_UP_ID, room_log.snapshot_seq, room_log.snapshot))
                delivered += 1
        for entry in room_log.entries:
            if entry.seq not in sub.mark.ahead:
                sub.handler(relay.encode_relay(relay.UPDATE, CATCH_UP_ID, entry.seq, entry.data))
                delivered += 1
        sub.mark.advance(room_log.head)
        if delivered:
            self.caught_up += delivered
            log.info("room %s: read %d missed entries back from the stream (after seq %d)", room, delivered, since)

    # -- publishing ------------------------------------------------------------------------------

    def publish(self, room: str, message: bytes) -> None:
        if len(message) >= relay.HEADER_SIZE:
            kind, hub_id, seq = _RELAY_HEADER.unpack_from(message)
            if self.heartbeats.own_id is None:
                self.heartbeats.own_id = hub_id
            if kind == relay.UPDATE:
                sub = self._rooms.get(room)
                if sub is not None:
                    sub.mark.saw(seq)
                if self._store_publishes:
                    return  # the append's script published it already
        try:
            self._queue.put_nowait((room, message))
        except asyncio.QueueFull:
            self.dropped += 1

    async def _publish_loop(self) -> None:
        delay = 0.05
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty() and len(batch) < 512:
                batch.append(self._queue.get_nowait())
            by_room: dict[str, list[bytes]] = {}
            for room, message in batch:
                by_room.setdefault(room, []).append(message)
            pipe = self.redis.pipeline(transaction=False)
            for room, messages in by_room.items():
                for message in bundles(messages):
                    if self.sharded:
                        pipe.execute_command("SPUBLISH", channel(room), message)
                    else:
                        pipe.publish(channel(room), message)
            try:
                await asyncio.wait_for(pipe.execute(), OP_TIMEOUT)
                delay = 0.05
            except (RedisError, OSError, asyncio.TimeoutError) as exc:
                # Entries are in the stream already; other hubs read them back. Presence is
                # re-sent by clients. So drop the batch and back off rather than pile up.
                self.dropped += len(batch)
                log.warning("publishing %d messages failed: %s", len(batch), exc or type(exc).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _flush(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self._queue.join(), timeout)
        except asyncio.TimeoutError:
            pass

    # -- periodic work ---------------------------------------------------------------------------

    async def _maintain(self) -> None:
        """Every tick: heartbeat, notice dead hubs, and catch up rooms whose hole did not fill."""
        while True:
            try:
                await self.heartbeats.beat(self.redis)
                await self.heartbeats.check(self.redis)
                await self._check_heads()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.debug("broker maintenance: %s", exc or type(exc).__name__)
            await asyncio.sleep(self.tick)

    async def _check_heads(self) -> None:
        rooms = [r for r in self._rooms if r not in self._orphans]
        if not rooms:
            return
        pipe = self.redis.pipeline(transaction=False)
        for room in rooms:
            pipe.get(room_key(room, "head"))
        heads = await asyncio.wait_for(pipe.execute(), OP_TIMEOUT)
        for room, head in zip(rooms, heads):
            sub = self._rooms.get(room)
            if sub is None:
                continue
            mark = sub.mark
            if not (int(head or 0) > mark.upto or mark.gap):
                sub.last_tick = -1
                continue
            # A hole can be a message still on its way; one still there a whole tick later is not.
            if mark.upto == sub.last_tick:
                await self._catch_up(room)
            sub.last_tick = mark.upto
