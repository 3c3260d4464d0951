"""The queue and event each connection's uvicorn protocol uses (collab.hub.lean_sync) behave like
asyncio's for what the protocol does with them: FIFO, a get that waits, a cancelled get losing
nothing, an event waking every waiter."""

from __future__ import annotations

import asyncio

import pytest

from collab.hub.lean_sync import LeanEvent, LeanQueue


async def test_the_queue_is_fifo_and_a_get_waits_for_a_put() -> None:
    q: LeanQueue[int] = LeanQueue()
    q.put_nowait(1)
    q.put_nowait(2)
    assert q.qsize() == 2 and not q.empty()
    assert [await q.get(), await q.get()] == [1, 2]
    assert q.empty()
    waiting = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    assert not waiting.done()
    q.put_nowait(3)
    assert await asyncio.wait_for(waiting, 1) == 3


async def test_a_cancelled_get_loses_nothing() -> None:
    q: LeanQueue[str] = LeanQueue()
    first, second = asyncio.create_task(q.get()), asyncio.create_task(q.get())
    await asyncio.sleep(0)
    q.put_nowait("a")  # wakes the first getter, which is cancelled before it runs
    first.cancel()
    assert await asyncio.wait_for(second, 1) == "a"
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_the_event_wakes_every_waiter_and_clears() -> None:
    e = LeanEvent()
    assert not e.is_set()
    waiters = [asyncio.create_task(e.wait()) for _ in range(3)]
    await asyncio.sleep(0)
    assert not any(w.done() for w in waiters)
    e.set()
    assert await asyncio.wait_for(asyncio.gather(*waiters), 1) == [True, True, True]
    e.clear()
    late = asyncio.create_task(e.wait())
    await asyncio.sleep(0)
    assert not late.done()
    e.set()
    assert await asyncio.wait_for(late, 1) is True
