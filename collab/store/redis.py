"""The shared store: each room's log is a Redis stream, so any hub can serve any room.

Keys of room R. The ``{R}`` hash tag puts them all in one Redis Cluster slot, so one Lua script may
touch them together (scripts are how seq assignment and compaction stay atomic):

  collab:{R}:info    hash    kind, write_key, created_at
  collab:{R}:head    string  the last sequence number handed out (INCRBY, never decreases)
  collab:{R}:log     stream  entry ID "<seq>-0", field d = the entry's bytes
  collab:{R}:snap    hash    seq, data: the snapshot that covers entries 1..seq
  collab:{R}:lease   string  token of the hub compacting the room right now (expires by itself)

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
from collections import defaultdict
from typing import Callable, Union
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from redis.asyncio import Redis, RedisCluster
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from collab.config import ConfigError
from collab.store.group_commit import GroupCommitter
from collab.store.base import LogEntry, RoomExists, RoomInfo, RoomLog, SnapshotConflict, StoreUnavailable

log = logging.getLogger(__name__)

Client = Union[Redis, RedisCluster]
UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError, asyncio.TimeoutError)
CommitObserver = Callable[[float, int], None]

# Round trips that take longer than this fail (StoreUnavailable): an append never hangs forever.
OP_TIMEOUT = 5.0
PAGE = 5000  # stream entries per XRANGE
MAX_BATCH_ENTRIES = 500  # entries per append script call (Lua argument lists stay small)


# -- key names -------------------------------------------------------------------------------------


def key(room: str, part: str) -> str:
    return f"collab:{{{room}}}:{part}"


def channel(room: str) -> str:
    return key(room, "relay")


def hub_key(hub_id: bytes) -> str:
    return f"collab:hub:{{{hub_id.hex()}}}"


# -- connecting ------------------------------------------------------------------------------------


def split_url(url: str) -> tuple[str, bool | None]:
    """Our own ``cluster=yes|no`` URL option, removed before redis-py sees the URL.

    None means "ask the server" (INFO cluster), which is what most setups want.
    """
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    cluster: bool | None = None
    kept = []
    for name, value in query:
        if name == "cluster":
            if value.lower() in ("1", "yes", "true", "on"):
                cluster = True
            elif value.lower() in ("0", "no", "false", "off"):
                cluster = False
            else:
                raise ConfigError(f"the Redis URL's cluster= option must be yes or no, got {value!r}")
        else:
            kept.append((name, value))
    return urlunsplit(parts._replace(query=urlencode(kept))), cluster


def node_url(url: str, host: str | None = None, port: int | None = None) -> str:
    """``url`` without our options, pointed at one cluster node (credentials and TLS kept)."""
    plain = urlsplit(split_url(url)[0])
    if host is None:
        return urlunsplit(plain)
    userinfo = plain.netloc.rpartition("@")[0]
    netloc = (userinfo + "@" if userinfo else "") + (f"[{host}]" if ":" in host else host) + f":{port}"
    return urlunsplit(plain._replace(netloc=netloc))


def client_options() -> dict[str, object]:
    # No automatic retries: a retried append script could run twice. Callers decide what to redo.
    return {
        "socket_timeout": OP_TIMEOUT,
        "socket_connect_timeout": 2.0,
        "retry": Retry(NoBackoff(), 0),
        "health_check_interval": 5,
    }


async def connect(url: str) -> Client:
    """A client for a single Redis or a Redis Cluster (detected, or forced with ``?cluster=yes``)."""
    plain_url, cluster = split_url(url)
    if cluster is None:
        probe = Redis.from_url(plain_url, **client_options())  # type: ignore[arg-type]
        try:
            info = await asyncio.wait_for(probe.info("cluster"), OP_TIMEOUT)
            cluster = bool(int(info.get("cluster_enabled", 0)))
        except (RedisError, OSError, asyncio.TimeoutError) as exc:
            raise StoreUnavailable(f"cannot reach Redis: {exc}") from exc
        finally:
            await probe.aclose()
    if cluster:
        options = client_options()
        options.pop("retry")  # the cluster client retries by re-reading the topology instead
        options.pop("health_check_interval")
        client: Client = RedisCluster.from_url(plain_url, **options)  # type: ignore[arg-type]
        try:
            await asyncio.wait_for(client.initialize(), OP_TIMEOUT)
        except (RedisError, OSError, asyncio.TimeoutError) as exc:
            await client.aclose()
            raise StoreUnavailable(f"cannot reach the Redis cluster: {exc}") from exc
        return client
    return Redis.from_url(plain_url, **client_options())  # type: ignore[arg-type]


# -- scripts ---------------------------------------------------------------------------------------

# KEYS: head, log. ARGV: entries. Returns the first seq.
APPEND = """
local n = #ARGV
local first = redis.call('INCRBY', KEYS[1], n) - n + 1
for i = 1, n do
  redis.call('XADD', KEYS[2], string.format('%d-0', first + i - 1), 'd', ARGV[i])
end
return first
"""

# KEYS: info. ARGV: kind, write_key, created_at. Returns 1 if created.
CREATE_ROOM = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'kind', ARGV[1], 'write_key', ARGV[2], 'created_at', ARGV[3])
return 1
"""

# KEYS: snap, log. ARGV: since, count. The snapshot (when it covers more than since) and the first
# page of entries after it, read atomically so a concurrent compaction cannot open a hole between them.
READ_FIRST_PAGE = """
local snap = redis.call('HMGET', KEYS[1], 'seq', 'data')
local sseq = tonumber(snap[1]) or 0
local since = tonumber(ARGV[1])
local data = false
if sseq > since then since = sseq; data = snap[2] end
local entries = redis.call('XRANGE', KEYS[2], string.format('%d-1', since), '+', 'COUNT', ARGV[2])
return {sseq, data, entries}
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

# KEYS: lease. ARGV: token. Deletes the lease only if we still hold it.
RELEASE_LEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _seq(entry_id: bytes) -> int:
    return int(entry_id.split(b"-", 1)[0])


def _entries(raw: list) -> list[LogEntry]:  # type: ignore[type-arg]
    return [LogEntry(_seq(entry_id), fields[b"d"] if isinstance(fields, dict) else _field(fields)) for entry_id, fields in raw]


def _field(flat: list[bytes]) -> bytes:
    # Lua hands XRANGE fields back as a flat [name, value, ...] list.
    return dict(zip(flat[::2], flat[1::2]))[b"d"]


async def read_log(redis: Client, room: str, since: int = 0, upto: int | None = None) -> RoomLog:
    """Snapshot (if it covers more than ``since``) and the entries after it, up to ``upto``.

    Pages are read one after another; a compaction between two pages shows as a hole in the seqs,
    and then the read starts over (the new snapshot covers the hole).
    """
    for _ in range(10):
        snap_seq, snap_data, first = await redis.eval(  # type: ignore[misc]
            READ_FIRST_PAGE, 2, key(room, "snap"), key(room, "log"), since, PAGE
        )
        result = RoomLog()
        if snap_data is not None:
            result.snapshot, result.snapshot_seq = snap_data, int(snap_seq)
        page = _entries(first)
        expected = max(since, result.snapshot_seq) + 1
        hole = False
        while page:
            if page[0].seq != expected or page[-1].seq != expected + len(page) - 1:
                hole = True
                break
            result.entries.extend(e for e in page if upto is None or e.seq <= upto)
            expected = page[-1].seq + 1
            if len(page) < PAGE or (upto is not None and expected > upto):
                break
            page = _entries(await redis.xrange(key(room, "log"), f"{expected}-0", "+", count=PAGE))
        if not hole:
            return result
    raise StoreUnavailable(f"room {room}: log kept changing while it was read")


def merge_snapshot(base: RoomLog, snapshot: bytes) -> bytes:
    """One state that covers the stored snapshot, every stored entry and the hub's snapshot.

    A hub's document may miss an entry another hub wrote moments ago (it is still on its way), so
    the hub's snapshot alone could drop it; the union with what is stored cannot. Runs in a thread.
    """
    from collab.hub.room import replay  # the one apply-then-encode routine (never merge_updates)

    extra = [LogEntry(0, base.snapshot)] if base.snapshot else []
    return replay(RoomLog(snapshot=snapshot, entries=extra + base.entries))


# -- the store -------------------------------------------------------------------------------------


class RedisStore:
    def __init__(self, url: str, *, lease_ms: int = 30_000, op_timeout: float = OP_TIMEOUT) -> None:
        self.url = url
        self.lease_ms = lease_ms
        self.op_timeout = op_timeout
        self.commit_observer: CommitObserver | None = None
        self._redis: Client | None = None
        self._appends = GroupCommitter(self._commit, "collab-redis-writer")
        # While Redis is away, appends fail at once instead of each waiting for a connect timeout;
        # one real attempt is made per backoff period, so recovery is noticed without a restart.
        self._down: str | None = None
        self._retry_at = 0.0
        self._backoff = 0.0

    # -- lifecycle -------------------------------------------------------------------------------

    async def open(self) -> None:
        self._redis = await connect(self.url)
        self._appends.start()

    async def close(self) -> None:
        await self._appends.close()
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    @property
    def redis(self) -> Client:
        if self._redis is None:
            raise StoreUnavailable("store is not open")
        return self._redis

    async def _call(self, coro):  # type: ignore[no-untyped-def]
        """Run one Redis operation with a deadline; every failure reads as StoreUnavailable."""
        try:
            return await asyncio.wait_for(coro, self.op_timeout)
        except (RedisError, OSError, asyncio.TimeoutError) as exc:
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
            self.redis.eval(  # type: ignore[arg-type]
                CREATE_ROOM, 1, key(info.name, "info"), info.kind, info.write_key or b"", repr(info.created_at or time.time())
            )
        )
        if not created:
            raise RoomExists(info.name)

    async def room_info(self, name: str) -> RoomInfo | None:
        fields = await self._call(self.redis.hgetall(key(name, "info")))  # type: ignore[arg-type]
        if not fields:
            return None
        return RoomInfo(
            name,
            fields[b"kind"].decode(),  # type: ignore[arg-type]
            fields.get(b"write_key") or None,
            float(fields.get(b"created_at", b"0")),
        )

    # -- log -------------------------------------------------------------------------------------

    def append(self, room: str, data: bytes) -> asyncio.Future[int]:
        return self._appends.append(room, data)

    @property
    def pending(self) -> int:
        return self._appends.pending

    async def _commit(self, batch: list[tuple[str, bytes, asyncio.Future[int]]]) -> None:
        started = time.perf_counter()
        if self._down is not None and time.monotonic() < self._retry_at:
            error = StoreUnavailable(f"redis unavailable: {self._down}")
            for _, _, fut in batch:
                if not fut.done():
                    fut.set_exception(error)
            return
        by_room: dict[str, list[tuple[bytes, asyncio.Future[int]]]] = defaultdict(list)
        for room, data, fut in batch:
            by_room[room].append((data, fut))
        calls: list[list[tuple[bytes, asyncio.Future[int]]]] = []
        pipe = self.redis.pipeline(transaction=False)
        for room, items in by_room.items():
            for i in range(0, len(items), MAX_BATCH_ENTRIES):
                chunk = items[i : i + MAX_BATCH_ENTRIES]
                pipe.eval(APPEND, 2, key(room, "head"), key(room, "log"), *(d for d, _ in chunk))
                calls.append(chunk)
        try:
            results = await asyncio.wait_for(pipe.execute(raise_on_error=False), self.op_timeout)
        except (RedisError, OSError, asyncio.TimeoutError) as exc:
            results = [exc] * len(calls)
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
        errors = [r for r in results if isinstance(r, BaseException)]
        if any(isinstance(e, UNREACHABLE) for e in errors):
            self._went_down(str(errors[0]), failed)
            return
        if errors:  # Redis answered, but refused (a script error, out of memory): not an outage
            log.error("redis refused %d of %d appends: %s", failed, len(batch), errors[0])
        if self._down is not None:
            log.warning("redis is back: appends are durable again")
            self._down, self._backoff = None, 0.0
        if self.commit_observer is not None:
            self.commit_observer(time.perf_counter() - started, len(batch))

    def _went_down(self, reason: str, failed: int) -> None:
        if self._down is None:
            log.error("redis append failed (%s): refusing writes until it is back", reason or "timeout")
        else:
            log.debug("redis still unavailable: %d appends refused", failed)
        self._down = reason or "timeout"
        self._backoff = min(max(self._backoff * 2, 0.05), 2.0)
        self._retry_at = time.monotonic() + self._backoff

    async def load(self, room: str, since: int = 0) -> RoomLog:
        return await self._call(read_log(self.redis, room, since))

    async def compact(self, room: str, snapshot: bytes, upto: int, *, expect_head: int | None = None) -> None:
        if expect_head is not None:
            status, head = await self._call(
                self.redis.eval(  # type: ignore[arg-type]
                    COMPARE_AND_COMPACT, 3, key(room, "head"), key(room, "snap"), key(room, "log"), upto, expect_head, snapshot
                )
            )
            if int(status) < 0:
                raise SnapshotConflict(f"snapshot covers {upto}, head is {int(head)}")
            return
        # One compactor per room at a time; the lease expires, so a hub that dies holding it blocks
        # nobody for longer than lease_ms.
        token = os.urandom(12).hex()
        lease = key(room, "lease")
        if not await self._call(self.redis.set(lease, token, nx=True, px=self.lease_ms)):
            log.debug("room %s: another hub is compacting it", room)
            return
        try:
            base = await self._call(read_log(self.redis, room, 0, upto))
            if base.snapshot_seq >= upto:
                return
            merged = await asyncio.to_thread(merge_snapshot, base, snapshot)
            written = await self._call(
                self.redis.eval(  # type: ignore[arg-type]
                    WRITE_SNAPSHOT, 2, key(room, "snap"), key(room, "log"), base.snapshot_seq, upto, merged
                )
            )
            if not written:
                log.debug("room %s: snapshot changed while compacting, leaving it", room)
        finally:
            try:
                await self._call(self.redis.eval(RELEASE_LEASE, 1, lease, token))  # type: ignore[arg-type]
            except StoreUnavailable:
                pass  # it expires by itself

    async def entry_count(self, room: str) -> int:
        return int(await self._call(self.redis.xlen(key(room, "log"))))  # type: ignore[arg-type]

    async def head(self, room: str) -> int:
        """The last seq handed out for ``room`` (0 for a new room)."""
        return int(await self._call(self.redis.get(key(room, "head"))) or 0)  # type: ignore[arg-type]
