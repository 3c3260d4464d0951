"""One long-lived thread that runs a store's blocking calls in order, for the event loop.

``loop.run_in_executor`` on a one-thread ``ThreadPoolExecutor`` does the same with more per call:
a concurrent future (with its condition variable), a work item, the pool's locks and thread-count
check, then an asyncio future chained to it by two callbacks. With one commit per update or two,
that hand-off was 12 % of the event loop's samples in workload a (bench/PROFILE.md). Here a call
is one tuple on a ``SimpleQueue`` and, when it is done, one ``call_soon_threadsafe`` that settles
the loop's future.

Items for a batch function (a store's appends, ``put_batched``) go through the same queue: the
thread takes every batched item queued back to back and hands them to that function at once, so
a group commit needs no task of its own on the event loop (see collab.store.sqlite). Calls and
items keep the order they were queued in.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from typing import Any, Callable, TypeVar

T = TypeVar("T")

_Job = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[..., Any], tuple[Any, ...]]
# A batched item is queued as (_BATCHED, item): a marker no job tuple starts with.
_BATCHED: Any = object()
_NOTHING: tuple[Any, ...] = ()  # no job taken off the queue yet


class WorkerThread:
    """Runs ``fn(*args)`` on its thread, one call at a time in the order given; every future
    ``run`` returns gets the call's result or exception (a call after ``stop`` fails at once)."""

    def __init__(self, name: str, batch: Callable[[list[Any]], None] | None = None) -> None:
        self._name = name
        self._batch = batch  # runs on the thread with the items queued back to back by put_batched
        self._jobs: queue.SimpleQueue[tuple[Any, ...] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None  # started by the first call
        self._stopped = False

    def run(self, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        if self._stopped:
            fut.set_exception(RuntimeError("the store's thread has stopped"))
            return fut
        self._start()
        self._jobs.put((loop, fut, fn, args))
        return fut

    def put_batched(self, item: Any) -> bool:
        """Queue ``item`` for the batch function; False (nothing queued) once stopped."""
        if self._stopped:
            return False
        self._start()
        self._jobs.put((_BATCHED, item))
        return True

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name=self._name, daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Run what was queued, then end the thread (waits for it)."""
        if not self._stopped:
            self._stopped = True
            self._jobs.put(None)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()

    def _work(self) -> None:
        jobs = self._jobs
        job = jobs.get()
        while job is not None:
            if job[0] is not _BATCHED:
                _run_one(*job)
                del job  # do not keep the last call's arguments alive while waiting for the next
                job = jobs.get()
                continue
            # Every batched item queued now, up to the next call (which runs after them).
            items = [job[1]]
            following: tuple[Any, ...] | None = _NOTHING
            while not jobs.empty():
                following = jobs.get()
                if following is None or following[0] is not _BATCHED:
                    break
                items.append(following[1])
                following = _NOTHING
            assert self._batch is not None
            self._batch(items)  # settles every item itself, never raises
            del items
            job = jobs.get() if following is _NOTHING else following


def _run_one(loop: asyncio.AbstractEventLoop, fut: asyncio.Future[Any], fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        result = fn(*args)
    except BaseException as exc:
        _settle_soon(loop, fut, None, exc)
        if not isinstance(exc, Exception):
            raise
    else:
        _settle_soon(loop, fut, result, None)


def _settle_soon(loop: asyncio.AbstractEventLoop, fut: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
    try:
        loop.call_soon_threadsafe(_settle, fut, result, exc)
    except RuntimeError:  # the loop is closed: nothing awaits the future any more
        pass


def _settle(fut: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
    if fut.done():  # cancelled by whoever awaited it
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(result)
