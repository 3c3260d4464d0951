"""Compaction by clients: an encrypted snapshot replaces the log; joiners get snapshot + tail."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pycrdt

from collab.protocol import relay_frames as frames
from collab.protocol.envelope import new_author_id, seal_snapshot
from tests.e2ee.support import joined, new_room, raw_client, room_url
from tests.support.waiting import eventually
from tests.support.hub_process import HubProcess
from tests.support.store_file import log_rows, snapshot


async def test_snapshot_of_20000_updates_replaces_the_log(hub: HubProcess) -> None:
    keys = new_room(hub)
    db = hub.data / "collab.sqlite3"
    async with joined(hub, keys, compact_every=10**9) as writer:
        text = writer.doc.get("code", type=pycrdt.Text)
        started = time.perf_counter()
        for i in range(20_000):
            text += "abcdefghij"[i % 10]  # one envelope per keystroke
        await writer.flush(timeout=120)
        print(f"20,000 encrypted updates acknowledged in {time.perf_counter() - started:.1f} s")
        assert len(log_rows(db, keys.room_id)) == 20_000
        covers = await writer.compact()
        assert covers == 20_000
        assert log_rows(db, keys.room_id) == []
        snap = snapshot(db, keys.room_id)
        assert snap is not None and snap[0] == 20_000
        print(f"snapshot of 20,000 updates: {len(snap[1])} bytes")
        text += "tail"
        await writer.flush()
        assert len(log_rows(db, keys.room_id)) == 1
        expected = str(text)

    received: list[bytes] = []
    async with joined(hub, keys.read_only(), on_frame=lambda d, f: received.append(f) if d == "in" else None) as late:
        assert str(late.doc.get("code", type=pycrdt.Text)) == expected
        assert late.rejected == []
    entries = [frames.decode(f) for f in received if f[0] == frames.FrameType.ENTRY]
    assert [e.seq for e in entries] == [20_000, 20_001]  # type: ignore[union-attr]

    # Replay checks continue after the snapshot: a writer joining from it keeps writing normally.
    async with joined(hub, keys) as again, joined(hub, keys.read_only()) as watcher:
        more = again.doc.get("code", type=pycrdt.Text)
        more += "!"
        watched = watcher.doc.get("code", type=pycrdt.Text)
        await eventually(lambda: str(watched) == expected + "!")
        assert again.rejected == [] and watcher.rejected == []


async def test_writers_compact_automatically_and_joiners_agree(hub: HubProcess) -> None:
    keys = new_room(hub)
    db = hub.data / "collab.sqlite3"
    async with joined(hub, keys, compact_every=50) as a, joined(hub, keys, compact_every=50) as b:
        ta, tb = a.doc.get("code", type=pycrdt.Text), b.doc.get("code", type=pycrdt.Text)
        for i in range(120):
            (ta if i % 2 else tb).insert(0, str(i % 10))
            if i % 20 == 0:
                await a.flush()
                await b.flush()
        await a.flush()
        await b.flush()
        await eventually(lambda: str(ta) == str(tb))
        await eventually(lambda: snapshot(db, keys.room_id) is not None)
        assert a.snapshots_made + b.snapshots_made >= 1
        assert len(log_rows(db, keys.room_id)) < 120
        expected = str(ta)
    async with joined(hub, keys.read_only()) as late:
        assert str(late.doc.get("code", type=pycrdt.Text)) == expected
        assert late.rejected == []


async def test_snapshot_must_name_the_current_head(hub: HubProcess) -> None:
    keys = new_room(hub)
    async with joined(hub, keys) as writer:
        text = writer.doc.get("code", type=pycrdt.Text)
        for ch in "abc":
            text += ch
        await writer.flush()
    author = new_author_id()
    async with raw_client(room_url(hub, keys)) as raw:
        await raw.hello(keys)
        stale = seal_snapshot(keys, author, 1, 2, b"\x00\x00\x00\x00")
        await raw.ws.send(frames.snapshot(5, stale))
        nack = await raw.recv()
        assert isinstance(nack, frames.Nack) and nack.code == frames.NackCode.SNAPSHOT_CONFLICT
        assert len(log_rows(hub.data / "collab.sqlite3", keys.room_id)) == 3
        assert snapshot(hub.data / "collab.sqlite3", keys.room_id) is None


async def test_a_snapshot_the_hub_relabels_is_rejected(tmp_path: Path) -> None:
    data = tmp_path / "data"
    hub = HubProcess(data).start()
    try:
        keys = new_room(hub)
        async with joined(hub, keys) as writer:
            text = writer.doc.get("code", type=pycrdt.Text)
            for ch in "abcd":
                text += ch
            await writer.flush()
            await writer.compact()
    finally:
        hub.stop()
    with sqlite3.connect(data / "collab.sqlite3") as db:
        db.execute("UPDATE snapshots SET seq = 2 WHERE room = ?", (keys.room_id,))
    hub = HubProcess(data).start()
    try:
        async with joined(hub, keys.read_only()) as victim:
            assert str(victim.doc.get("code", type=pycrdt.Text)) == ""
            assert [r.error for r in victim.rejected] == ["EnvelopeError"]
            assert "labelled a snapshot covering 4 as seq 2" in victim.rejected[0].message
    finally:
        hub.stop()
