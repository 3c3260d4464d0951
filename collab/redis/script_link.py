"""One lean connection to one Redis server for a hot script: the store's append (collab.store.redis).

redis-py's pipeline costs the writing hub about 80-100 µs of CPU per group commit of one script
call, its own connection's send_packed_command/read_response about 45 µs, and a plain asyncio
Protocol writing the packed EVALSHA and parsing the reply about 20-25 µs (bench/PROFILE.md, same
machine, same script; most of what is left is the write, epoll and read syscalls). With room
affinity a group commit is mostly one entry, so that difference is paid per update.

Only what the script path needs: connect (AUTH, SELECT, SCRIPT LOAD), send N commands in one write,
read their N replies. Replies that are errors come back as exceptions in the result list (like
redis-py's ``raise_on_error=False``); a connection that fails, closes or does not answer in time
raises, and is dropped: the next call connects again. Nothing is ever retried here (a script sent
twice could append twice), as with every other Redis client of collab (collab.redis.connection).

For redis:// and unix:// URLs to one server; TLS (rediss://) and clusters keep redis-py's pipeline.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import deque
from typing import Any, Callable, Final, Sequence

from redis._parsers.base import BaseParser
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from collab.redis.address import Address
from collab.redis.connection import CONNECT_TIMEOUT

Arg = bytes | str | int

_INCOMPLETE: Final = object()


def supported(url: str) -> bool:
    """Whether ``url`` (without our ``cluster=`` option) is one a ScriptLink can connect to."""
    return url.startswith(("redis://", "unix://"))


def pack(args: Sequence[Arg]) -> bytes:
    """One command in RESP: an array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n" % len(data))
        out.append(data)
        out.append(b"\r\n")
    return b"".join(out)


def parse(buf: bytearray, pos: int) -> tuple[Any, int]:
    """The RESP2 reply at ``pos`` and where the next one starts, or (_INCOMPLETE, pos).

    An error reply is returned as the exception redis-py would raise for it."""
    end = buf.find(b"\r\n", pos)
    if end < 0:
        return _INCOMPLETE, pos
    kind, line, after = buf[pos], bytes(buf[pos + 1 : end]), end + 2
    if kind == 0x3A:  # ':' integer
        return int(line), after
    if kind == 0x2B:  # '+' status
        return line, after
    if kind == 0x2D:  # '-' error
        return BaseParser.parse_error(line.decode("utf-8", "replace")), after  # type: ignore[no-untyped-call]
    if kind == 0x24:  # '$' bulk string
        n = int(line)
        if n < 0:
            return None, after
        if len(buf) < after + n + 2:
            return _INCOMPLETE, pos
        return bytes(buf[after : after + n]), after + n + 2
    if kind == 0x2A:  # '*' array
        n = int(line)
        if n < 0:
            return None, after
        items = []
        for _ in range(n):
            item, after = parse(buf, after)
            if item is _INCOMPLETE:
                return _INCOMPLETE, pos
            items.append(item)
        return items, after
    raise RedisConnectionError(f"unexpected reply from Redis: {bytes(buf[pos:end])[:40]!r}")


Done = Callable[[list[Any] | BaseException], None]


class _Batch:
    """The replies owed to one write of ``n`` commands, and whom to hand them to (in one go)."""

    __slots__ = ("n", "replies", "done", "deadline")

    def __init__(self, n: int, done: Done, deadline: float) -> None:
        self.n, self.done, self.deadline = n, done, deadline
        self.replies: list[Any] = []


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiting: deque[_Batch] = deque()
        self.closed: BaseException | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        pos = 0
        try:
            while self.waiting:
                batch = self.waiting[0]
                reply, after = parse(self.buffer, pos)
                if reply is _INCOMPLETE:
                    break
                pos = after
                batch.replies.append(reply)
                if len(batch.replies) == batch.n:
                    self.waiting.popleft()
                    batch.done(batch.replies)
        except (ValueError, RedisConnectionError) as exc:  # garbage on the wire: nothing here can be trusted
            self.fail(RedisConnectionError(f"bad reply from Redis: {exc}"))
            return
        if pos:
            del self.buffer[:pos]

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(RedisConnectionError(f"connection to Redis lost: {exc}" if exc else "Redis closed the connection"))

    def fail(self, error: BaseException) -> None:
        """Every batch still owed replies gets ``error``; the connection is given up."""
        if self.closed is None:
            self.closed = error
        while self.waiting:
            self.waiting.popleft().done(error)
        if self.transport is not None:
            self.transport.abort()


class ScriptLink:
    """A connection for calling ``script`` (EVALSHA, loaded on every connect) and little else."""

    def __init__(self, url: str, script: str, *, connect_timeout: float = CONNECT_TIMEOUT) -> None:
        self._address = Address.from_url(url)
        self._script = script
        self.sha = hashlib.sha1(script.encode()).hexdigest()
        self._connect_timeout = connect_timeout
        self._conn: _Protocol | None = None
        self._timer: asyncio.TimerHandle | None = None

    @property
    def ready(self) -> bool:
        """Whether a connection is up, so ``submit`` can write at once."""
        return self._conn is not None and self._conn.closed is None

    def evalsha_command(self, args: Sequence[Arg]) -> bytes:
        return pack(("EVALSHA", self.sha, *args))

    async def evalsha(self, calls: Sequence[Sequence[Arg]], timeout: float) -> list[Any]:
        """Run the script once per ``calls`` entry (its ``numkeys, keys..., args...``), all in one
        write; a reply per call, errors as exception objects (NoScriptError where the script cache
        was flushed under us: such a call did not run). Raises when the connection fails."""
        return await self.call([self.evalsha_command(args) for args in calls], timeout)

    async def eval(self, calls: Sequence[Sequence[Arg]], timeout: float) -> list[Any]:
        """As evalsha, sending the script's text (which loads it into the cache again)."""
        return await self.call([pack(("EVAL", self._script, *args)) for args in calls], timeout)

    def submit(self, commands: Sequence[bytes], timeout: float, done: Done) -> None:
        """Write packed ``commands`` at once on the connection that is ``ready``; ``done`` gets
        their replies (errors as exception objects) from the data callback, or the exception that
        ended the connection (RedisTimeoutError when they were not all answered within
        ``timeout``). No task, no future, no timer per call: a commit of one entry cost the hub
        that much more through ``call`` (bench/PROFILE.md)."""
        conn = self._conn
        assert conn is not None and conn.closed is None and conn.transport is not None
        deadline = asyncio.get_running_loop().time() + timeout
        conn.waiting.append(_Batch(len(commands), done, deadline))
        conn.transport.write(b"".join(commands))
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_at(deadline, self._check_deadline)

    def _check_deadline(self) -> None:
        """One timer for every call: when it fires, either the oldest call is overdue (the
        connection is given up: replies may still come, and it is out of step for good), or it is
        armed again for the oldest call's deadline. Replies never cancel it."""
        self._timer = None
        conn = self._conn
        if conn is None or not conn.waiting:
            return
        loop = asyncio.get_running_loop()
        deadline = min(batch.deadline for batch in conn.waiting)
        if deadline == float("inf"):  # only call()'s, under a timeout of their own
            return
        if deadline <= loop.time():
            self._conn = None
            conn.fail(RedisTimeoutError("Redis did not answer in time"))
            return
        self._timer = loop.call_at(deadline, self._check_deadline)

    async def call(self, commands: Sequence[bytes], timeout: float) -> list[Any]:
        """Send packed ``commands`` in one write and wait for their replies."""
        try:
            async with asyncio.timeout(timeout):
                conn = self._conn
                if conn is None or conn.closed is not None:
                    conn = await self._connect()
                return await self._send(conn, commands)
        except TimeoutError:
            self.drop()  # replies may still come: this connection is out of step for good
            raise RedisTimeoutError("Redis did not answer in time") from None
        except BaseException:
            self.drop()
            raise

    async def _send(self, conn: _Protocol, commands: Sequence[bytes]) -> list[Any]:
        assert conn.transport is not None
        reply: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()

        def done(replies: list[Any] | BaseException) -> None:
            if reply.done():
                return
            if isinstance(replies, BaseException):
                reply.set_exception(replies)
            else:
                reply.set_result(replies)

        conn.waiting.append(_Batch(len(commands), done, float("inf")))  # call()'s own timeout
        conn.transport.write(b"".join(commands))
        try:
            return await reply
        finally:  # after a failure: leave no exception unclaimed (asyncio would log it)
            if reply.done() and not reply.cancelled():
                reply.exception()

    async def _connect(self) -> _Protocol:
        self.drop()
        async with asyncio.timeout(self._connect_timeout):
            conn = await self._address.open(_Protocol)
            self._conn = conn
            setup: list[bytes] = []
            auth = self._address.auth()
            if auth is not None:
                setup.append(pack(auth))
            if self._address.db:
                setup.append(pack(("SELECT", self._address.db)))
            setup.append(pack(("SCRIPT", "LOAD", self._script)))
            for reply in await self._send(conn, setup):
                if isinstance(reply, ResponseError):
                    raise reply
        return conn

    def drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.fail(RedisConnectionError("connection to Redis dropped"))

    async def aclose(self) -> None:
        self.drop()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
