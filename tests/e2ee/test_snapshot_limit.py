"""A snapshot over the hub's frame limit never stops a writer, and still compacts the room (issue 13, finding 5, client side).

The hub closes a connection whose frame is over its --max-frame-bytes with 1009. Once a room's
document was larger than that, the automatic snapshot did it, and the writer took the close as
final: it stopped with its edits unsent, saying "the largest change waiting is 218 bytes". Then
the writer skipped such snapshots, so the hub's log of a big room was never compacted. Now it sends
them as SNAPSHOT_PART frames. Here the hub's limit is 64 kB and the document grows past it in
small edits.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterator

import pycrdt
import pytest

from collab.client.encrypted import EncryptedProvider
from tests.e2ee.support import joined, new_room, room_url
from tests.support.hub_process import HubProcess
from tests.support.store_file import log_rows, snapshot
from tests.support.waiting import eventually

LIMIT = 64 * 1024
EDIT = "x = '" + "abcdefgh" * 500 + "'\n"  # 4 kB: far under the limit; 20 of them are not


@pytest.fixture
def small_frames_hub(tmp_path: Path) -> Iterator[HubProcess]:
    proc = HubProcess(tmp_path / "data", env={"COLLAB_MAX_FRAME_BYTES": str(LIMIT)}).start()
    try:
        yield proc
    finally:
        proc.stop()


def text(provider: EncryptedProvider) -> str:
    return str(provider.doc.get("code", type=pycrdt.Text))


async def write_edits(writer: EncryptedProvider, count: int) -> None:
    code = writer.doc.get("code", type=pycrdt.Text)
    for _ in range(count):
        code += EDIT  # one envelope each


def stored(hub: HubProcess, room: str) -> tuple[int, int]:
    """(entries in the hub's log, the seq its snapshot covers or 0), read from its disk."""
    snap = snapshot(hub.data / "collab.sqlite3", room)
    return len(log_rows(hub.data / "collab.sqlite3", room)), snap[0] if snap else 0


async def test_a_snapshot_the_hub_closes_with_1009_is_not_final(
    small_frames_hub: HubProcess, caplog: pytest.LogCaptureFixture
) -> None:
    hub = small_frames_hub
    keys = new_room(hub)
    caplog.set_level(logging.INFO)
    async with joined(hub, keys, compact_every=20, backoff_max=0.5) as writer, joined(hub, keys.read_only()) as reader:
        await write_edits(writer, 30)
        await writer.flush(timeout=30)  # the snapshot after these is 120 kB: the hub closes with 1009
        await eventually(lambda: "closed with 1009" in hub.log(), 15, what="the hub's 1009 close")
        await write_edits(writer, 30)  # made while it reconnects, and after: sent all the same
        await writer.flush(timeout=30)
        assert writer.fatal is None and writer.pending == 0
        await eventually(lambda: text(reader) == EDIT * 60, 20, what="every edit at the reader")
        # The next snapshot went in parts of at most half the refused frame: the hub took it.
        await eventually(lambda: writer.snapshots_made >= 1, 20, what="a snapshot sent in parts")
    assert hub.log().count("closed with 1009") == 1, hub.log()
    entries, covers = stored(hub, keys.room_id)
    assert covers > 30 and entries <= 60 - covers, (entries, covers)  # what it covers left the log
    async with joined(hub, keys.read_only()) as late:  # a 200 kB ENTRY: over the limit the hub reads
        await eventually(lambda: text(late) == EDIT * 60, 20, what="every edit at a late joiner")
        assert late.rejected == []


async def test_with_the_limit_known_a_big_snapshot_goes_in_parts(small_frames_hub: HubProcess) -> None:
    hub = small_frames_hub
    keys = new_room(hub)
    async with joined(hub, keys, compact_every=1000, max_frame_bytes=LIMIT) as writer:
        await write_edits(writer, 10)
        await writer.flush(timeout=30)
        assert await writer.compact() == 10  # 40 kB: one SNAPSHOT frame, stored as usual
        await write_edits(writer, 40)
        await writer.flush(timeout=30)
        assert stored(hub, keys.room_id) == (40, 10)
        assert await writer.compact() == 50  # 200 kB: in SNAPSHOT_PART frames (one SNAPSHOT: closed with 1009)
        assert writer.fatal is None and writer.snapshots_made == 2
        assert stored(hub, keys.room_id) == (0, 50)  # the hub's log is compacted
        await write_edits(writer, 2)
        await writer.flush(timeout=30)
    assert "closed with 1009" not in hub.log(), hub.log()
    async with joined(hub, keys.read_only()) as late:
        await eventually(lambda: text(late) == EDIT * 52, 20, what="every edit at a late joiner")
        assert late.rejected == [] and late.head == 52


async def test_an_edit_over_the_limit_is_final_and_named_with_its_size(small_frames_hub: HubProcess) -> None:
    hub = small_frames_hub
    keys = new_room(hub)
    writer = EncryptedProvider(keys, room_url(hub, keys), compact_every=20)
    await writer.start(timeout=20)
    try:
        writer.doc.get("code", type=pycrdt.Text).insert(0, "y" * (LIMIT + 5000))
        await eventually(lambda: writer.fatal is not None, 15, what="the final close")
        message = str(writer.fatal)
        assert "larger than the hub's frame limit" in message and "1009" in message, message
        size = int(message.split("the largest change waiting is ")[1].split(" bytes")[0].replace(",", ""))
        assert LIMIT + 5000 < size < LIMIT + 6000, message  # that edit, sealed
        assert writer.pending == 1
    finally:
        await writer.stop()
