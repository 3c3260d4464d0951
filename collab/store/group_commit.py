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

    _appends: GroupCommitter
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
