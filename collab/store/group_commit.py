"""Group commit: appends queue up while one commit runs, and the next commit takes them all.

Under load that turns thousands of small appends into a few commits (SQLite transactions, Redis
pipelines); on an idle hub each append still commits within one round trip.
"""

from __future__ import annotations

import asyncio
import time
from typing import Awaitable, Callable

from collab.store.base import CommitObserver, StoreUnavailable

Pending = tuple[str, bytes, "asyncio.Future[int]"]
Commit = Callable[[list[Pending]], Awaitable[None]]


class GroupCommitter:
    """Owns the append queue of a store; ``commit`` must resolve (or fail) every future it gets."""

    def __init__(self, commit: Commit, name: str) -> None:
        self._commit = commit
        self._name = name
        self._queue: list[Pending] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=self._name)

    def append(self, room: str, data: bytes) -> asyncio.Future[int]:
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        if self._closing:
            fut.set_exception(StoreUnavailable("store is closing"))
            return fut
        self._queue.append((room, data, fut))
        self._wake.set()
        return fut

    @property
    def pending(self) -> int:
        return len(self._queue)

    async def close(self) -> None:
        """Commit everything already queued, then stop."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task

    async def _loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._queue = self._queue, []
            if batch:
                try:
                    await self._commit(batch)
                except Exception as exc:  # a commit bug must not strand writers awaiting their futures
                    for _, _, fut in batch:
                        if not fut.done():
                            fut.set_exception(StoreUnavailable(f"commit failed: {exc}"))
            if self._closing and not self._queue:
                return


class GroupCommitStore:
    """The append side shared by stores whose appends go through a GroupCommitter.

    A subclass creates ``self._appends`` and calls ``self._observe(started, n)`` after each commit
    that made ``n`` entries durable (``started`` from time.perf_counter()).
    """

    _appends: "GroupCommitter | PassCommitter"
    commit_observer: CommitObserver | None = None

    def append(self, room: str, data: bytes) -> asyncio.Future[int]:
        return self._appends.append(room, data)

    @property
    def pending(self) -> int:
        return self._appends.pending

    def set_commit_observer(self, observer: CommitObserver | None) -> None:
        self.commit_observer = observer

    def _observe(self, started: float, entries: int) -> None:
        if self.commit_observer is not None:
            self.commit_observer(time.perf_counter() - started, entries)


Send = Callable[[list[Pending], Callable[[], None]], None]


class PassCommitter:
    """A GroupCommitter without a task: the appends of one pass of the loop are handed to ``send``
    by one callback queued behind them (as the SQLite store commits on the loop), and those that
    come while that commit is in flight go together once it is done.

    ``send(batch, finished)`` must settle every future of ``batch`` and then call ``finished()``
    (from a reply callback, or a task of its own when it has to await). As with GroupCommitter one
    commit is in flight at a time, so a room's entries are committed in the order they came. Its
    task's wake-ups, Event and coroutine resumptions cost the hub a share of its ~400 µs per update
    with room affinity over Redis, where a commit is mostly one entry (bench/PROFILE.md).
    """

    def __init__(self, send: Send) -> None:
        self._send = send
        self._queue: list[Pending] = []
        self._scheduled = False
        self._in_flight = False
        self._closing = False
        self._idle: asyncio.Future[None] | None = None  # close() waits on it

    def start(self) -> None:
        pass

    def append(self, room: str, data: bytes) -> asyncio.Future[int]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[int] = loop.create_future()
        if self._closing:
            fut.set_exception(StoreUnavailable("store is closing"))
            return fut
        self._queue.append((room, data, fut))
        if not self._scheduled and not self._in_flight:
            self._scheduled = True
            loop.call_soon(self._commit)
        return fut

    @property
    def pending(self) -> int:
        return len(self._queue)

    async def close(self) -> None:
        """Commit everything already queued, then stop."""
        self._closing = True
        if self._in_flight or self._queue:
            self._idle = asyncio.get_running_loop().create_future()
            if not self._scheduled and not self._in_flight:
                self._scheduled = True
                asyncio.get_running_loop().call_soon(self._commit)
            await self._idle

    def _commit(self) -> None:
        self._scheduled = False
        if self._in_flight:
            return
        batch, self._queue = self._queue, []
        if not batch:
            self._stopped()
            return
        self._in_flight = True
        try:
            self._send(batch, self._finished)
        except Exception as exc:  # a commit bug must not strand writers awaiting their futures
            fail(batch, exc)
            self._finished()

    def _finished(self) -> None:
        self._in_flight = False
        if self._queue:
            if not self._scheduled:
                # Not at once: appends read in this same pass of the loop (after the reply) join it.
                self._scheduled = True
                asyncio.get_running_loop().call_soon(self._commit)
        else:
            self._stopped()

    def _stopped(self) -> None:
        if self._idle is not None and not self._idle.done():
            self._idle.set_result(None)


def fail(batch: list[Pending], exc: BaseException) -> None:
    for _, _, fut in batch:
        if not fut.done():
            fut.set_exception(StoreUnavailable(f"commit failed: {exc}"))
