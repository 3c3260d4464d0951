"""Compaction and replay lose nothing that was stored (issue 13, the two low findings on them).

- An update whose dependencies never reached the hub stays pending in its document, and
  ``doc.get_update()`` leaves pending updates out: compaction used to drop them from the store
  for good. A client writes such an update as a raw frame; after the room is compacted and loaded
  again, the missing dependency arrives and a joiner must see both.
- A stored entry that is not a Yjs update (a corrupted row) made the room fail to load at all.
  Replay now skips that entry alone and keeps every other one: the other author's text is all
  there, and the corrupted author's later updates wait (pending) until a client that has the
  missing piece reconnects, and then everyone sees them.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pycrdt
from websockets.asyncio.client import connect

from collab.protocol import yjs
from tests.support.hub_process import HubProcess
from tests.support.store_file import log_rows, snapshot
from tests.support.waiting import eventually
from tests.support.yclient import pycrdt_client


def text_of(doc: pycrdt.Doc[Any]) -> str:
    return str(doc.get("code", type=pycrdt.Text))


async def send_raw(url: str, update: bytes) -> None:
    """Write one update as a raw frame, as a client that withholds another one would."""
    async with connect(url, max_size=None) as ws:
        await ws.send(yjs.sync_update(update))


def compacted(db: Path, room: str) -> bool:
    return log_rows(db, room) == [] and snapshot(db, room) is not None


async def test_compaction_keeps_updates_whose_dependencies_are_missing(hub: HubProcess) -> None:
    url, db = f"{hub.ws_url}/ws/pending", hub.data / "collab.sqlite3"
    author: pycrdt.Doc[Any] = pycrdt.Doc()
    updates: list[bytes] = []
    author.observe(lambda event: updates.append(event.update))
    code = author.get("code", type=pycrdt.Text)
    code += "first"
    code += " second"  # depends on "first", which the hub will not see for a while
    first, second = updates

    async with pycrdt_client(url) as other:
        note = other.get("notes", type=pycrdt.Text)
        note += "unrelated"
        await send_raw(url, second)
        await eventually(lambda: len(log_rows(db, "pending")) == 2, 20, what="both updates stored")
    # Unloaded when idle: compacted (the room's log becomes its snapshot), and loaded again below.
    await eventually(lambda: compacted(db, "pending"), 20, what="the compaction on unload")
    async with pycrdt_client(url) as other:
        note = other.get("notes", type=pycrdt.Text)
        note += " and more"  # a second compaction, of a room loaded from that snapshot
        await eventually(lambda: len(log_rows(db, "pending")) == 1, 20, what="the write stored")
    await eventually(lambda: compacted(db, "pending"), 20, what="the second compaction")

    await send_raw(url, first)  # the missing dependency, at last
    async with pycrdt_client(url) as joiner:
        await eventually(lambda: text_of(joiner) == "first second", 20, what="both updates at a joiner")


async def test_a_corrupted_stored_entry_hides_nothing_else(tmp_path: Path) -> None:
    data = tmp_path / "data"
    hub = HubProcess(data, "--compact-after", "100000").start()
    url = f"{hub.ws_url}/ws/corrupt"
    ann: pycrdt.Doc[Any] = pycrdt.Doc()
    bob: pycrdt.Doc[Any] = pycrdt.Doc()
    try:
        async with pycrdt_client(url, ann), pycrdt_client(url, bob):
            code, notes = ann.get("code", type=pycrdt.Text), bob.get("notes", type=pycrdt.Text)
            for i in range(100):  # interleaved, so the corrupted one shares its replay chunk with both
                code += f"<a{i}>"
                notes += f"<b{i}>"
                await eventually(lambda: len(log_rows(data / "collab.sqlite3", "corrupt")) == 2 * (i + 1), 20)
        rows = log_rows(data / "collab.sqlite3", "corrupt")
    finally:
        hub.kill()  # no compaction on the way out: the log stays as written
    # Truncate one of ann's stored updates, as a bad disk sector would.
    seq = next(seq for _, seq, row in rows[20:] if b"<a" in row)
    with sqlite3.connect(data / "collab.sqlite3") as db:
        row = db.execute("SELECT data FROM log WHERE room = 'corrupt' AND seq = ?", (seq,)).fetchone()[0]
        db.execute("UPDATE log SET data = ? WHERE room = 'corrupt' AND seq = ?", (row[:-3], seq))

    hub = HubProcess(data).start()
    url = f"{hub.ws_url}/ws/corrupt"
    try:
        expected_ann, expected_bob = str(ann.get("code", type=pycrdt.Text)), str(bob.get("notes", type=pycrdt.Text))
        async with pycrdt_client(url) as joiner:
            assert str(joiner.get("notes", type=pycrdt.Text)) == expected_bob  # all of bob's
            seen = str(joiner.get("code", type=pycrdt.Text))
            assert seen and expected_ann.startswith(seen) and seen != expected_ann  # ann's, up to the hole
        assert f"skipping entry {seq} of a room's stored log" in hub.log()
        # Ann's later updates were kept: once her client reconnects with the missing one, all show.
        async with pycrdt_client(url, ann):
            async with pycrdt_client(url) as joiner:
                await eventually(lambda: str(joiner.get("code", type=pycrdt.Text)) == expected_ann, 20,
                                 what="ann's text whole at a joiner")
    finally:
        hub.stop()
