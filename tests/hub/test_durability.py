"""What the hub acknowledged survives kill -9, SIGTERM, and a huge history compacts."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import pycrdt
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from collab.store.sqlite import SQLiteStore
from tests.support.hub_process import HubProcess
from tests.support.metrics import scrape
from tests.support.store_file import log_rows, snapshot
from tests.support.yclient import pycrdt_client
from tests.support.waiting import eventually


async def test_kill_9_right_after_fan_out_loses_nothing_received(tmp_path: Path) -> None:
    data = tmp_path / "data"
    hub = HubProcess(data).start()
    try:
        url = f"{hub.ws_url}/ws/crash"
        async with pycrdt_client(url) as writer, pycrdt_client(url) as reader:
            wt = writer.get("code", type=pycrdt.Text)
            rt = reader.get("code", type=pycrdt.Text)
            for i in range(200):
                wt += f"line {i}\n"
            # The moment the reader has received everything, the hub dies without any chance to flush.
            await eventually(lambda: str(rt).count("\n") == 200)
            hub.kill()
            received = str(rt)
    finally:
        hub.stop()
    again = HubProcess(data).start()
    try:
        async with pycrdt_client(f"{again.ws_url}/ws/crash") as fresh:
            ft = fresh.get("code", type=pycrdt.Text)
            await eventually(lambda: str(ft) == received)
    finally:
        again.stop()


async def test_sigterm_closes_with_1012_and_flushes(tmp_path: Path) -> None:
    data = tmp_path / "data"
    hub = HubProcess(data).start()
    try:
        async with pycrdt_client(f"{hub.ws_url}/ws/term") as doc:
            doc.get("code", type=pycrdt.Text).insert(0, "persist me")
            await eventually(lambda: scrape(hub.url).get("collab_updates_stored_total", 0) >= 1, what="the edit stored")
        async with connect(f"{hub.ws_url}/ws/term") as ws:
            await ws.recv()
            assert hub.proc is not None
            hub.proc.send_signal(signal.SIGTERM)
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await asyncio.wait_for(ws.recv(), 10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012
        assert hub.proc.wait(15) == 0
    finally:
        hub.stop()
    again = HubProcess(data).start()
    try:
        async with pycrdt_client(f"{again.ws_url}/ws/term") as doc:
            text = doc.get("code", type=pycrdt.Text)
            await eventually(lambda: str(text) == "persist me")
    finally:
        again.stop()


def typing_updates(count: int) -> tuple[list[bytes], str]:
    doc = pycrdt.Doc()
    text = doc.get("code", type=pycrdt.Text)
    updates: list[bytes] = []
    sub = doc.observe(lambda event: updates.append(event.update))
    for i in range(count):
        text.insert(len(text), "abcdefghij"[i % 10])
    doc.unobserve(sub)
    return updates, str(text)


async def write_history(path: Path, room: str, updates: list[bytes]) -> None:
    store = SQLiteStore(path, synchronous="OFF")
    await store.open()
    try:
        for i in range(0, len(updates), 5000):
            await asyncio.gather(*(store.append(room, u) for u in updates[i : i + 5000]))
    finally:
        await store.close()


async def test_room_with_100k_updates_joins_with_full_text_and_is_compacted(tmp_path: Path) -> None:
    data = tmp_path / "data"
    updates, expected = typing_updates(100_000)
    await write_history(data / "collab.sqlite3", "history", updates)
    assert len(log_rows(data / "collab.sqlite3", "history")) == 100_000
    hub = HubProcess(data).start()
    try:
        started = time.perf_counter()
        async with pycrdt_client(f"{hub.ws_url}/ws/history") as doc:
            text = doc.get("code", type=pycrdt.Text)
            await eventually(lambda: len(str(text)) == len(expected))
            print(f"cold join of a 100k-update room: {time.perf_counter() - started:.2f} s")
            assert str(text) == expected
            # Background compaction replaces the log with one snapshot.
            await eventually(lambda: len(log_rows(data / "collab.sqlite3", "history")) == 0, timeout=20)
            snap = snapshot(data / "collab.sqlite3", "history")
            assert snap is not None and snap[0] == 100_000
            text += "!"
            await eventually(lambda: len(log_rows(data / "collab.sqlite3", "history")) == 1)
        # A joiner gets the compacted state plus newer updates.
        async with pycrdt_client(f"{hub.ws_url}/ws/history") as late:
            late_text = late.get("code", type=pycrdt.Text)
            await eventually(lambda: str(late_text) == expected + "!")
    finally:
        hub.stop()
