"""Compaction while two hubs write one room: each hub compacts from its own document where it has
applied every entry up to the snapshot's seq (no read-back), and nothing typed on either hub is
lost, for the clients there or for anyone who joins later from the snapshot."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pycrdt
import redis.asyncio

from collab.protocol.yjs_update import unintegrated
from collab.redis.keys import room_key
from tests.support.hub_process import start_hub
from tests.support.metrics import scrape
from tests.support.redis_server import RedisServer
from tests.support.waiting import eventually
from tests.support.yclient import pycrdt_client


async def test_two_hubs_compacting_one_room_lose_nothing(tmp_path: Path, redis_server: RedisServer) -> None:
    a = start_hub(tmp_path, "hub-a", redis_server.url, "--compact-after", "25")
    b = start_hub(tmp_path, "hub-b", redis_server.url, "--compact-after", "25")
    admin = redis.asyncio.Redis.from_url(redis_server.url)
    room = "compacting"
    expected = {f"<{w}:{n}>" for w in range(4) for n in range(60)}
    try:
        async with contextlib.AsyncExitStack() as stack:
            docs = [await stack.enter_async_context(pycrdt_client(f"{hub.ws_url}/ws/{room}")) for hub in (a, b, a, b)]
            texts = [doc.get("code", type=pycrdt.Text) for doc in docs]

            async def type_marks(w: int) -> None:
                for n in range(60):
                    texts[w] += f"<{w}:{n}>"
                    await asyncio.sleep(0.002)

            await asyncio.gather(*(type_marks(w) for w in range(4)))
            await eventually(lambda: all(set(_marks(str(t))) == expected for t in texts), timeout=30,
                             what="every mark on every client")
            snapshot_seq = int(await admin.hget(room_key(room, "snap"), "seq") or 0)
            assert snapshot_seq >= 25, "no compaction ran"
            assert await admin.xlen(room_key(room, "log")) < 240
        for hub in (a, b):  # the room unloads once idle; a newcomer loads it from the snapshot
            await asyncio.sleep(1.0)
            async with pycrdt_client(f"{hub.ws_url}/ws/{room}") as late:
                late_text = late.get("code", type=pycrdt.Text)
                await eventually(lambda: set(_marks(str(late_text))) == expected, timeout=15,
                                 what="every mark for a newcomer")
    finally:
        await admin.aclose()
        a.stop()
        b.stop()


def _marks(text: str) -> list[str]:
    return ["<" + part for part in text.split("<")[1:]]


async def test_every_snapshot_two_hubs_write_holds_every_entry_it_claims(
    tmp_path: Path, redis_server: RedisServer,
) -> None:
    """Writers on both hubs type at once while each hub compacts every 10 entries: every snapshot
    written holds every entry up to its seq (caught as written, before a later one could hide a
    loss), the hubs compacted from their own documents, and after both hubs are killed (no unload
    compaction to repair anything) a fresh hub serves the exact text everyone saw."""
    args = ("--compact-after", "10", "--log-level", "debug")
    a = start_hub(tmp_path, "hub-a", redis_server.url, *args)
    b = start_hub(tmp_path, "hub-b", redis_server.url, *args)
    admin = redis.asyncio.Redis.from_url(redis_server.url)
    tail = redis.asyncio.Redis.from_url(redis_server.url)
    room = "compacting-fast"
    writers, marks = 6, 80
    expected = {f"<{w}:{n}>" for w in range(writers) for n in range(marks)}
    entries: dict[int, bytes] = {}  # seq -> entry, read from the stream as it is appended
    snapshots: dict[int, bytes] = {}  # seq -> snapshot, as each was written
    stop = asyncio.Event()

    async def read_stream() -> None:
        last = b"0-0"
        while not stop.is_set():
            reply = await tail.xread({room_key(room, "log"): last}, block=200)
            for _, items in reply:
                for entry_id, fields in items:
                    entries[int(entry_id.split(b"-", 1)[0])] = fields[b"d"]
                    last = entry_id

    async def watch_snapshots() -> None:
        while not stop.is_set():
            seq, data = await admin.hmget(room_key(room, "snap"), ["seq", "data"])
            if seq is not None and data is not None:
                snapshots.setdefault(int(seq), data)
            await asyncio.sleep(0.001)

    watchers = [asyncio.create_task(read_stream()), asyncio.create_task(watch_snapshots())]
    try:
        async with contextlib.AsyncExitStack() as stack:
            hubs = [a, b] * (writers // 2)
            docs = [await stack.enter_async_context(pycrdt_client(f"{hub.ws_url}/ws/{room}")) for hub in hubs]
            texts = [doc.get("code", type=pycrdt.Text) for doc in docs]

            async def type_marks(w: int) -> None:
                for n in range(marks):
                    texts[w] += f"<{w}:{n}>"
                    await asyncio.sleep(0.001 * (1 + w % 3))

            await asyncio.gather(*(type_marks(w) for w in range(writers)))
            await eventually(lambda: all(set(_marks(str(t))) == expected for t in texts), timeout=60,
                             what="every mark on every client")
            final = str(texts[0])
            assert all(str(t) == final for t in texts)
            for hub in (a, b):  # a fresh client on each hub, the room still loaded there
                async with pycrdt_client(f"{hub.ws_url}/ws/{room}") as fresh:
                    fresh_text = fresh.get("code", type=pycrdt.Text)
                    await eventually(lambda: str(fresh_text) == final, timeout=15, what="the text for a fresh client")
            await asyncio.sleep(0.3)  # the last snapshots and entries reach the watchers
            stop.set()
            await asyncio.gather(*watchers)
            a.kill()  # no compaction on unload: what is stored now is what the snapshots made it
            b.kill()
        assert len(snapshots) >= 5, f"only {len(snapshots)} snapshots written"
        for seq, snapshot in sorted(snapshots.items()):
            vector = pycrdt.get_state(snapshot)
            lost = [s for s, entry in entries.items() if s <= seq and unintegrated(entry, vector) is not None]
            assert not lost, f"the snapshot through {seq} lacks entries {lost[:10]}"
        own = a.log().count("from this hub's own document") + b.log().count("from this hub's own document")
        assert own >= 3, f"the hubs compacted from their own documents {own} times"
        c = start_hub(tmp_path, "hub-c", redis_server.url)
        try:
            async with pycrdt_client(f"{c.ws_url}/ws/{room}") as late:
                late_text = late.get("code", type=pycrdt.Text)
                await eventually(lambda: str(late_text) == final, timeout=15, what="the exact text on a fresh hub")
        finally:
            c.stop()
    finally:
        stop.set()
        for task in watchers:
            task.cancel()
        await admin.aclose()
        await tail.aclose()
        a.stop()
        b.stop()


async def test_only_the_writers_hub_compacts_a_room_read_on_another(tmp_path: Path, redis_server: RedisServer) -> None:
    """Each hub counts the entries it appended: with every writer on hub a, hub a compacts the room
    and hub b, which only relays it to its readers, never encodes it for a snapshot."""
    a = start_hub(tmp_path, "hub-a", redis_server.url, "--compact-after", "10")
    b = start_hub(tmp_path, "hub-b", redis_server.url, "--compact-after", "10")
    admin = redis.asyncio.Redis.from_url(redis_server.url)
    room = "read-elsewhere"
    expected = [f"<{n}>" for n in range(100)]
    try:
        async with pycrdt_client(f"{a.ws_url}/ws/{room}") as writer, pycrdt_client(f"{b.ws_url}/ws/{room}") as reader:
            text, seen = writer.get("code", type=pycrdt.Text), reader.get("code", type=pycrdt.Text)
            for mark in expected:
                text += mark
                await asyncio.sleep(0.003)
            await eventually(lambda: str(seen) == "".join(expected), timeout=30, what="every mark on hub b")
            assert int(await admin.hget(room_key(room, "snap"), "seq") or 0) >= 90, "hub a did not compact"
            assert await admin.xlen(room_key(room, "log")) < 20
        await asyncio.sleep(1.0)  # both hubs unload the room (a hub compacts on unload what it counted)
        assert scrape(a.url)["collab_compactions_total"] >= 9
        assert scrape(b.url)["collab_compactions_total"] == 0, "hub b compacted a room it only relayed"
    finally:
        await admin.aclose()
        a.stop()
        b.stop()
