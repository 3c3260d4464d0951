"""The shared store: each room's log is a Redis stream, so any hub can serve any room.

Keys are listed in collab.redis.keys; all keys of one room share a Redis Cluster slot, so one Lua
script may touch them together (scripts are how seq assignment and compaction stay atomic).

Appends are group-committed: whatever queued while the previous round trip ran goes out as one
pipeline with one script call per room. A script INCRBYs the head and XADDs with explicit IDs, so
the order of seqs is the order in the stream and seqs stay 1, 2, 3, ... per room. The script's
reply is the acknowledgement; how durable that is depends on Redis' appendfsync (docs/self-hosting.md).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any, Callable, Coroutine

from redis.asyncio import RedisCluster
from redis.exceptions import NoScriptError

from collab.redis import script_link
from collab.redis.connection import FAILED, OP_TIMEOUT, UNREACHABLE, Client, connect, split_url
from collab.redis.bundle import MAX_BYTES
from collab.redis.keys import channel, room_key
from collab.redis.log import read_log
from collab.redis.script_link import ScriptLink
from collab.store.base import (
    EpochKeys,
    LogEntry,
    Merge,
    RoomExists,
    RoomInfo,
    RoomLog,
    SnapshotConflict,
    StoreUnavailable,
    pack_past,
    unpack_past,
)
from collab.store.group_commit import GroupCommitStore, GroupCommitter, PassCommitter, Pending, fail

log = logging.getLogger(__name__)

MAX_BATCH_ENTRIES = 500  # entries per append script call (Lua argument lists stay small)
MAX_BATCH_BYTES = MAX_BYTES  # bytes per append script call: what it publishes is one bundle


# -- scripts ---------------------------------------------------------------------------------------

# KEYS: head, log, relay channel. ARGV: hub id, publish command, subscribers to ignore, entries.
# Returns the first seq. With a publish command (PUBLISH, or SPUBLISH on a cluster) the entries
# also go to the other hubs as relay UPDATE messages from that hub id (collab.protocol.relay),
# several as one bundle (collab.redis.bundle): append and publish are one round trip, and published
# only once durable as far as Redis makes them (the script's reply and the message leave after the
# same AOF write). Nothing is published when the channel has no subscriber beyond the writing hub's
# own (ARGV[3]: 1 while its subscription is confirmed, else 0): with room affinity that is every
# append, and the hub neither pays the publish nor reads its own entries back. A hub that
# subscribes a moment later misses nothing: it subscribes first and then loads the log (or reads
# the head), so an entry appended before its subscription counts is in what it reads.
APPEND = """
local n = #ARGV - 3
local first = redis.call('INCRBY', KEYS[1], n) - n + 1
local publish = ARGV[2]
if publish ~= '' then
  local counted = redis.call('PUBSUB', publish == 'SPUBLISH' and 'SHARDNUMSUB' or 'NUMSUB', KEYS[3])
  if tonumber(counted[2]) <= tonumber(ARGV[3]) then publish = '' end
end
local parts = {}
for i = 1, n do
  local seq = first + i - 1
  redis.call('XADD', KEYS[2], string.format('%d-0', seq), 'd', ARGV[i + 3])
  if publish ~= '' then
    local m = '\\1' .. ARGV[1] .. struct.pack('>I4I4', math.floor(seq / 4294967296), seq % 4294967296) .. ARGV[i + 3]
    if n == 1 then parts[1] = m else parts[i] = struct.pack('>I4', #m) .. m end
  end
end
if publish ~= '' then
  if n == 1 then redis.call(publish, KEYS[3], parts[1]) else redis.call(publish, KEYS[3], '\\0' .. table.concat(parts)) end
end
return first
"""

# KEYS: info. ARGV: kind, write_key, created_at, read_key. Returns 1 if created. Rooms created
# before reader keys have no read_key field and stay open to readers.
CREATE_ROOM = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'kind', ARGV[1], 'write_key', ARGV[2], 'created_at', ARGV[3], 'read_key', ARGV[4])
return 1
"""

# KEYS: snap, log. ARGV: expected current snapshot seq, upto, data.
# Replaces the snapshot only if nobody else did meanwhile. Returns 1 when written.
WRITE_SNAPSHOT = """
local cur = tonumber(redis.call('HGET', KEYS[1], 'seq')) or 0
if cur ~= tonumber(ARGV[1]) or cur >= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'seq', ARGV[2], 'data', ARGV[3])
redis.call('XTRIM', KEYS[2], 'MINID', string.format('%d-0', tonumber(ARGV[2]) + 1))
return 1
"""

# KEYS: head, snap, log. ARGV: upto, expect_head, data. A client snapshot is accepted only if it
# covers exactly the current head. Returns {status, head}: -1 conflict, 0 already covered, 1 written.
COMPARE_AND_COMPACT = """
local head = tonumber(redis.call('GET', KEYS[1])) or 0
local upto = tonumber(ARGV[1])
if upto ~= tonumber(ARGV[2]) or head ~= upto then return {-1, head} end
local cur = tonumber(redis.call('HGET', KEYS[2], 'seq')) or 0
if cur >= upto then return {0, head} end
redis.call('HSET', KEYS[2], 'seq', ARGV[1], 'data', ARGV[3])
redis.call('XTRIM', KEYS[3], 'MINID', string.format('%d-0', upto + 1))
return {1, head}
"""

# KEYS: head, epoch. ARGV: expect_head, epoch, write_key, read_key, rotation, past. A rotation is
# accepted only at the head it names and as the next epoch. Returns {status, head, current epoch}.
ROTATE = """
local head = tonumber(redis.call('GET', KEYS[1])) or 0
local cur = tonumber(redis.call('HGET', KEYS[2], 'epoch')) or 0
if head ~= tonumber(ARGV[1]) or tonumber(ARGV[2]) ~= cur + 1 then return {-1, head, cur} end
redis.call('HSET', KEYS[2], 'epoch', ARGV[2], 'write_key', ARGV[3], 'read_key', ARGV[4], 'rotation', ARGV[5], 'past', ARGV[6])
return {1, head, cur}
"""

# KEYS: lease. ARGV: token. Deletes the lease only if we still hold it.
RELEASE_LEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


Chunk = list[tuple[bytes, "asyncio.Future[int]"]]


def _unscripted(results: list[Any], rooms: list[str]) -> list[int]:
    """The calls that failed with NOSCRIPT (so did not run) and may run again now: those with no
    later call of the same room that ran meanwhile (its entries would then come before theirs)."""
    ran_after: set[str] = set()
    again: list[int] = []
    for i in range(len(results) - 1, -1, -1):
        if isinstance(results[i], NoScriptError):
            if rooms[i] not in ran_after:
                again.append(i)
        elif not isinstance(results[i], BaseException):
            ran_after.add(rooms[i])
    return again[::-1]


def _nowhere(room: str) -> bool:
    return False


def _nothing(room: str) -> int:
    return 0


def _chunks(items: list[tuple[bytes, Any]]) -> list[list[tuple[bytes, Any]]]:
    """Consecutive runs of at most MAX_BATCH_ENTRIES entries and about MAX_BATCH_BYTES."""
    chunks: list[list[tuple[bytes, Any]]] = [[]]
    size = 0
    for item in items:
        if chunks[-1] and (len(chunks[-1]) >= MAX_BATCH_ENTRIES or size + len(item[0]) > MAX_BATCH_BYTES):
            chunks.append([])
            size = 0
        chunks[-1].append(item)
        size += len(item[0])
    return chunks if chunks[0] else []


def merge_snapshot(merge: Merge, base: RoomLog, snapshot: bytes) -> bytes:
    """One state that covers the stored snapshot, every stored entry and the hub's snapshot.

    A hub's document may miss an entry another hub wrote moments ago (it is still on its way), so
    the hub's snapshot alone could drop it; the union with what is stored cannot. Runs in a thread.
    """
    extra = [LogEntry(0, base.snapshot)] if base.snapshot else []
    return merge(RoomLog(snapshot=snapshot, entries=extra + base.entries))


# -- the store -------------------------------------------------------------------------------------


class RedisStore(GroupCommitStore):
    def __init__(self, url: str, *, merge: Merge, lease_ms: int = 30_000, op_timeout: float = OP_TIMEOUT) -> None:
        self.url = url
        self.merge = merge
        self.lease_ms = lease_ms
        self.op_timeout = op_timeout
        self._redis: Client | None = None
        self._link: ScriptLink | None = None  # the append script's own connection (one server only)
        # A PassCommitter once open() has the link (one server), else a task awaiting each commit.
        self._appends: GroupCommitter | PassCommitter = GroupCommitter(self._commit, "collab-redis-writer")
        self._tasks: set[asyncio.Task[None]] = set()  # commits that await (connecting, NOSCRIPT)
        # While Redis is away, appends fail at once instead of each waiting for a connect timeout;
        # one real attempt is made per backoff period, so recovery is noticed without a restart.
        self._down: str | None = None
        self._retry_at = 0.0
        self._backoff = 0.0
        self._relay: tuple[bytes, str] = (b"", "")  # hub id and publish command: see publish_appends
        self._subscribed: Callable[[str], bool] = _nowhere
        self._heard: Callable[[str], int] = _nothing

    def publish_appends(self, hub_id: bytes, subscribed: Callable[[str], bool] = _nowhere,
                        heard: Callable[[str], int] | None = None) -> None:
        """From now on every append also reaches the other hubs, as a relay UPDATE from ``hub_id``
        published by the append's own script (the broker then leaves those to the store).

        ``subscribed(room)`` says whether this hub's own subscription to the room's channel is
        confirmed: the script then publishes only if some other hub subscribes too. ``heard(room)``
        is the seq up to which this hub has applied every entry of the room (the broker's
        watermark): compact() then needs no read-back where it covers the snapshot."""
        self._relay = (hub_id, "SPUBLISH" if isinstance(self.redis, RedisCluster) else "PUBLISH")
        self._subscribed = subscribed
        if heard is not None:
            self._heard = heard

    # -- lifecycle -------------------------------------------------------------------------------

    async def open(self) -> None:
        self._redis = await connect(self.url)
        plain_url = split_url(self.url)[0]
        if not isinstance(self._redis, RedisCluster) and script_link.supported(plain_url):
            self._link = ScriptLink(plain_url, APPEND)
            self._appends = PassCommitter(self._send)
        self._appends.start()

    async def close(self) -> None:
        await self._appends.close()
        if self._link is not None:
            await self._link.aclose()
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    @property
    def redis(self) -> Client:
        if self._redis is None:
            raise StoreUnavailable("store is not open")
        return self._redis

    async def _call(self, command: Any) -> Any:
        """Await one Redis operation with a deadline; every failure reads as StoreUnavailable."""
        try:
            return await asyncio.wait_for(command, self.op_timeout)
        except FAILED as exc:
            raise StoreUnavailable(f"redis: {exc or type(exc).__name__}") from exc

    async def ping(self) -> None:
        try:
            if isinstance(self.redis, RedisCluster):
                # Every primary: the default node answering says nothing of the shard a room is on,
                # and a hub must not call the store back while one shard is still failing over.
                await asyncio.wait_for(self.redis.ping(target_nodes=RedisCluster.PRIMARIES), 2.0)
            else:
                await asyncio.wait_for(self.redis.ping(), 2.0)
        except Exception as exc:  # any failure means "not healthy"
            raise StoreUnavailable(f"redis: {exc or type(exc).__name__}") from exc
        self._retry_at = 0.0  # it answers: the next append tries for real

    # -- rooms -----------------------------------------------------------------------------------

    async def create_room(self, info: RoomInfo) -> None:
        created = await self._call(
            self.redis.eval(
                CREATE_ROOM, 1, room_key(info.name, "info"), info.kind, info.write_key or b"",
                repr(info.created_at or time.time()), info.read_key or b"",
            )
        )
        if not created:
            raise RoomExists(info.name)

    async def room_info(self, name: str) -> RoomInfo | None:
        fields: dict[bytes, bytes] = await self._call(self.redis.hgetall(room_key(name, "info")))
        if not fields:
            return None
        kind = fields[b"kind"].decode()
        return RoomInfo(
            name,
            "encrypted" if kind == "encrypted" else "plaintext",
            fields.get(b"write_key") or None,
            float(fields.get(b"created_at", b"0")),
            fields.get(b"read_key") or None,
        )

    # -- log -------------------------------------------------------------------------------------

    def _refused(self, batch: list[Pending]) -> bool:
        """While Redis is known to be away (until the next attempt is due), fail ``batch`` at once."""
        if self._down is None or time.monotonic() >= self._retry_at:
            return False
        error = StoreUnavailable(f"redis unavailable: {self._down}")
        for _, _, fut in batch:
            if not fut.done():
                fut.set_exception(error)
        return True

    def _calls(self, batch: list[Pending]) -> tuple[list[Chunk], list[str], list[tuple[bytes | str | int, ...]]]:
        """The script calls for ``batch``: one per room (or per chunk of a room), in order."""
        by_room: dict[str, Chunk] = {}
        for room, data, fut in batch:
            items = by_room.get(room)
            if items is None:
                by_room[room] = [(data, fut)]
            else:
                items.append((data, fut))
        calls: list[Chunk] = []
        rooms: list[str] = []
        args: list[tuple[bytes | str | int, ...]] = []
        hub_id, publish = self._relay
        for room, items in by_room.items():
            keys = (room_key(room, "head"), room_key(room, "log"), channel(room))
            own = 1 if publish and self._subscribed(room) else 0
            for chunk in _chunks(items):
                args.append((3, *keys, hub_id, publish, own, *(d for d, _ in chunk)))
                calls.append(chunk)
                rooms.append(room)
        return calls, rooms, args

    async def _commit(self, batch: list[Pending]) -> None:
        """A commit that awaits its round trip: on a cluster or TLS, or while the link connects."""
        started = time.perf_counter()
        if self._refused(batch):
            return
        calls, rooms, args = self._calls(batch)
        results: list[Any]
        try:
            if self._link is not None:
                # One write, one reply per call, no redis-py machinery: collab.redis.script_link.
                results = await self._link.evalsha(args, self.op_timeout)
                await self._run_unscripted(results, rooms, args)
            else:
                pipe = self.redis.pipeline(transaction=False)
                for call in args:
                    pipe.eval(APPEND, 3, *call[1:])
                results = await asyncio.wait_for(pipe.execute(raise_on_error=False), self.op_timeout)
        except FAILED as exc:
            results = [exc] * len(calls)
        self._settle(batch, calls, results, started)

    async def _run_unscripted(self, results: list[Any], rooms: list[str], args: list[tuple[bytes | str | int, ...]]) -> None:
        assert self._link is not None
        again = _unscripted(results, rooms)
        if again:  # Redis restarted or its script cache was flushed: those calls did not run
            for i, result in zip(again, await self._link.eval([args[i] for i in again], self.op_timeout)):
                results[i] = result

    def _send(self, batch: list[Pending], finished: Callable[[], None]) -> None:
        """The PassCommitter's commit over the link: written now, settled from its reply callback."""
        started = time.perf_counter()
        if self._refused(batch):
            finished()
            return
        link = self._link
        assert link is not None
        if not link.ready:  # connecting is a round trip or three: that commit awaits, in a task
            self._spawn(self._commit_then(batch, finished))
            return
        calls, rooms, args = self._calls(batch)

        def landed(results: list[Any] | BaseException) -> None:
            try:
                if isinstance(results, BaseException):
                    results = [results] * len(calls)
                elif any(isinstance(r, NoScriptError) for r in results):
                    self._spawn(self._unscripted_then(batch, calls, rooms, args, results, started, finished))
                    return
                self._settle(batch, calls, results, started)
            except Exception as exc:  # a bug here must not strand writers awaiting their futures
                fail(batch, exc)
            finished()

        link.submit([link.evalsha_command(a) for a in args], self.op_timeout, landed)

    async def _commit_then(self, batch: list[Pending], finished: Callable[[], None]) -> None:
        try:
            await self._commit(batch)
        except Exception as exc:
            fail(batch, exc)
        finally:
            finished()

    async def _unscripted_then(self, batch: list[Pending], calls: list[Chunk], rooms: list[str],
                               args: list[tuple[bytes | str | int, ...]], results: list[Any], started: float,
                               finished: Callable[[], None]) -> None:
        try:
            try:
                await self._run_unscripted(results, rooms, args)
            except FAILED as exc:
                results = [exc] * len(calls)
            self._settle(batch, calls, results, started)
        except Exception as exc:
            fail(batch, exc)
        finally:
            finished()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work, name="collab-redis-commit")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _settle(self, batch: list[Pending], calls: list[Chunk], results: list[Any], started: float) -> None:
        failed = 0
        for chunk, first in zip(calls, results):
            if isinstance(first, BaseException):
                failed += len(chunk)
                error = StoreUnavailable(f"redis append failed: {first or type(first).__name__}")
                for _, fut in chunk:
                    if not fut.done():
                        fut.set_exception(error)
                continue
            for offset, (_, fut) in enumerate(chunk):
                if not fut.done():
                    fut.set_result(int(first) + offset)
        if failed:
            errors = [r for r in results if isinstance(r, BaseException)]
            if any(isinstance(e, UNREACHABLE) for e in errors):
                self._went_down(str(errors[0]), failed)
                return
            # Redis answered, but refused (a script error, out of memory): not an outage
            log.error("redis refused %d of %d appends: %s", failed, len(batch), errors[0])
        if self._down is not None:
            log.warning("redis is back: appends are durable again")
            self._down, self._backoff = None, 0.0
        self._observe(started, len(batch))

    def _went_down(self, reason: str, failed: int) -> None:
        if self._down is None:
            log.error("redis append failed (%s): refusing writes until it is back", reason or "timeout")
        else:
            log.debug("redis still unavailable: %d appends refused", failed)
        self._down = reason or "timeout"
        self._backoff = min(max(self._backoff * 2, 0.05), 2.0)
        self._retry_at = time.monotonic() + self._backoff

    async def load(self, room: str, since: int = 0) -> RoomLog:
        room_log: RoomLog = await self._call(read_log(self.redis, room, since))
        return room_log

    async def compact(self, room: str, snapshot: bytes, upto: int, *, expect_head: int | None = None) -> None:
        if expect_head is not None:
            status, head = await self._call(
                self.redis.eval(
                    COMPARE_AND_COMPACT, 3, room_key(room, "head"), room_key(room, "snap"), room_key(room, "log"),
                    upto, expect_head, snapshot,
                )
            )
            if int(status) < 0:
                raise SnapshotConflict(f"snapshot covers {upto}, head is {int(head)}")
            return
        # Read before the first await, so at the moment the caller took ``snapshot`` of its document:
        # if this hub had applied every entry 1..upto by then, the snapshot covers them all and
        # nothing needs reading back and merging (the read-back of the stored snapshot and entries
        # and their merge grow with the document: in workload c they were most of a compaction).
        complete = self._heard(room) >= upto
        # One compactor per room at a time; the lease expires, so a hub that dies holding it blocks
        # nobody for longer than lease_ms.
        token = os.urandom(12).hex()
        lease = room_key(room, "lease")
        if not await self._call(self.redis.set(lease, token, nx=True, px=self.lease_ms)):
            log.debug("room %s: another hub is compacting it", room)
            return
        try:
            if complete:
                current = int(await self._call(self.redis.hget(room_key(room, "snap"), "seq")) or 0)
                if current >= upto:
                    return
                merged = snapshot
                log.debug("room %s: compacting through %d from this hub's own document", room, upto)
            else:
                base: RoomLog = await self._call(read_log(self.redis, room, 0, upto))
                current = base.snapshot_seq
                if current >= upto:
                    return
                merged = await asyncio.to_thread(merge_snapshot, self.merge, base, snapshot)
                log.debug("room %s: compacting through %d merged with the log read back", room, upto)
            written = await self._call(
                self.redis.eval(
                    WRITE_SNAPSHOT, 2, room_key(room, "snap"), room_key(room, "log"), current, upto, merged
                )
            )
            if not written:
                log.debug("room %s: snapshot changed while compacting, leaving it", room)
        finally:
            try:
                await self._call(self.redis.eval(RELEASE_LEASE, 1, lease, token))
            except StoreUnavailable:
                pass  # it expires by itself

    async def entry_count(self, room: str) -> int:
        return int(await self._call(self.redis.xlen(room_key(room, "log"))))

    async def head(self, room: str) -> int:
        """The last seq handed out for ``room`` (0 for a new room)."""
        return int(await self._call(self.redis.get(room_key(room, "head"))) or 0)

    # -- key epochs (encrypted rooms after a rotation) -------------------------------------------

    async def epoch_keys(self, room: str) -> EpochKeys | None:
        fields: dict[bytes, bytes] = await self._call(self.redis.hgetall(room_key(room, "epoch")))
        if not fields:
            return None
        return EpochKeys(
            int(fields[b"epoch"]), fields[b"write_key"], fields[b"read_key"], fields[b"rotation"],
            unpack_past(fields.get(b"past", b"")),
        )

    async def rotate(self, room: str, keys: EpochKeys, *, expect_head: int) -> None:
        status, head, current = await self._call(
            self.redis.eval(
                ROTATE, 2, room_key(room, "head"), room_key(room, "epoch"), expect_head, keys.epoch,
                keys.write_key, keys.read_key, keys.rotation, pack_past(keys.past),
            )
        )
        if int(status) < 0:
            raise SnapshotConflict(
                f"rotation to epoch {keys.epoch} after {expect_head}: the room is at epoch {int(current)}, head {int(head)}"
            )
