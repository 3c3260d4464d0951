"""Waiting on observable state instead of sleeping: poll a check until it holds, or fail saying what.

A sleep long enough for a loaded machine is slow on an idle one and still flaky on a busier one;
a poll returns as soon as the state is there and gives a bounded, named failure when it never is.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from typing import Awaitable, Callable, TypeVar, overload

T = TypeVar("T")


@overload
async def eventually(
    check: Callable[[], Awaitable[T]], timeout: float = ..., interval: float = ..., what: str = ...
) -> T: ...


@overload
async def eventually(check: Callable[[], T], timeout: float = ..., interval: float = ..., what: str = ...) -> T: ...


async def eventually(
    check: Callable[[], object], timeout: float = 15.0, interval: float = 0.02, what: str = "condition"
) -> object:
    """Poll ``check`` (a plain or an async callable) until it returns something truthy; return that.

    Raises AssertionError naming ``what`` once ``timeout`` seconds pass without it.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"{what} not reached within {timeout} s")
        await asyncio.sleep(interval)


def eventually_sync(check: Callable[[], T], timeout: float = 15.0, interval: float = 0.02, what: str = "condition") -> T:
    """``eventually`` for code outside an event loop (fixtures that start processes, threads)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout} s")
        time.sleep(interval)
