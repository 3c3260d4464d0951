"""A snapshot over the hub's frame limit never stops a writer (issue 13, finding 5, client side).

The hub closes a connection whose frame is over its --max-frame-bytes with 1009. Once a room's
document was larger than that, the automatic snapshot did it, and the writer took the close as
final: it stopped with its edits unsent, saying "the largest change waiting is 218 bytes". Here
the hub's limit is 64 kB and the document grows past it in small edits.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterator

import pycrdt
import pytest

from collab.client.encrypted import EncryptedProvider
from collab.client.provider import ProviderError
from tests.e2ee.support import joined, new_room, room_url
from tests.support.hub_process import HubProcess
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


def skipped_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "no snapshot" in r.getMessage()]


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
        assert writer.snapshots_made == 0
    assert hub.log().count("closed with 1009") == 1, hub.log()  # later snapshots are not even sent
    assert len(skipped_lines(caplog)) == 1, skipped_lines(caplog)  # said once
    async with joined(hub, keys.read_only()) as late:  # the room's log still holds every edit
        await eventually(lambda: text(late) == EDIT * 60, 20, what="every edit at a late joiner")


async def test_with_the_limit_known_no_oversized_snapshot_is_sent(
    small_frames_hub: HubProcess, caplog: pytest.LogCaptureFixture
) -> None:
    hub = small_frames_hub
    keys = new_room(hub)
    async with joined(hub, keys, compact_every=20, max_frame_bytes=LIMIT) as writer:
        await write_edits(writer, 10)
        await writer.flush(timeout=30)
        covers = await writer.compact()  # 40 kB: under the limit, stored as usual
        assert covers == 10
        await write_edits(writer, 30)
        await writer.flush(timeout=30)
        with pytest.raises(ProviderError, match="over the hub's frame limit"):
            await writer.compact()  # 160 kB: refused here rather than sent
        await write_edits(writer, 5)
        await writer.flush(timeout=30)
        assert writer.fatal is None and writer.snapshots_made == 1
    assert "closed with 1009" not in hub.log(), hub.log()
    assert len(skipped_lines(caplog)) == 1, skipped_lines(caplog)


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
