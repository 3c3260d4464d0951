"""A hub connection's outgoing queue (collab.hub.connection), seen by its clients: updates that
wait for a slow reader go out merged into one frame, in order with the other frames; a reader
that stops reading is closed with SLOW_CONSUMER once its queue passes send_buffer_bytes, and
dropped outright if it does not take even the close; everyone else in the room is unaffected."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from collab.protocol import close_codes, yjs
from tests.support.asgi import Closed, http, scrape
from tests.support.inprocess import YClient, hub_app, yclient
from tests.support.waiting import eventually

LIMIT = 64 * 1024  # send_buffer_bytes of these hubs
CHUNK = 4 * 1024  # text per update: about 4 kB per queued update


async def test_updates_queued_for_a_slow_reader_arrive_merged_into_one_frame(tmp_path: Path) -> None:
    async with hub_app(tmp_path) as app:
        # window=1: once the hub's first frame (sync step 1) waits unread, every send blocks.
        async with yclient(app, "merge", window=1) as slow, yclient(app, "merge") as fast, \
                yclient(app, "merge") as writer:
            typed = ""
            for i in range(20):
                typed += f"<{i}>"
                await writer.type(f"<{i}>")
            await fast.read_until(typed)  # fanned out: the slow reader's queue holds all 20 now
            await slow.read_until(typed)
            first = slow.frames[0]
            assert isinstance(first, yjs.SyncMessage) and first.kind == yjs.SyncType.STEP1
            # At most the update that was in flight when it stopped reading, then everything
            # queued behind it as one frame: not 20.
            assert len(slow.update_frames()) <= 2
            assert str(slow.text) == typed


async def test_a_merge_never_crosses_another_frame(tmp_path: Path) -> None:
    async with hub_app(tmp_path) as app:
        async with yclient(app, "order", window=1) as slow, yclient(app, "order") as fast, \
                yclient(app, "order") as writer:
            for i in range(5):
                await writer.type(f"a{i} ")
            await fast.read_until("a0 a1 a2 a3 a4 ")
            await writer.set_presence(1, '{"user":{"name":"writer"}}')
            for i in range(5):
                await writer.type(f"b{i} ")
            await fast.read_until("a0 a1 a2 a3 a4 b0 b1 b2 b3 b4 ")
            seen_at_presence = None
            while str(slow.text) != "a0 a1 a2 a3 a4 b0 b1 b2 b3 b4 ":
                if isinstance(await slow.read(), yjs.AwarenessMessage):
                    seen_at_presence = str(slow.text)
            # The presence frame sits between the two runs of updates, as it was sent.
            assert seen_at_presence == "a0 a1 a2 a3 a4 "


async def test_a_reader_behind_by_less_than_the_limit_keeps_its_connection(tmp_path: Path) -> None:
    async with hub_app(tmp_path, max_frame_bytes=LIMIT, send_buffer_bytes=LIMIT) as app, http(app) as client:
        async with yclient(app, "behind", window=1) as slow, yclient(app, "behind") as fast, \
                yclient(app, "behind") as writer:
            typed = ""
            while len(typed) < LIMIT // 2:
                typed += "x" * CHUNK
                await writer.type("x" * CHUNK)
            await fast.read_until(typed)
            await slow.read_until(typed)
            assert slow.ws.closed is None
            assert (await scrape(client))["collab_slow_client_disconnects_total"] == 0


async def test_a_reader_that_stops_reading_is_closed_with_slow_consumer(tmp_path: Path) -> None:
    async with hub_app(tmp_path, max_frame_bytes=LIMIT, send_buffer_bytes=LIMIT) as app, http(app) as client:
        async with yclient(app, "slow", window=1) as slow, yclient(app, "slow") as fast, \
                yclient(app, "slow") as writer:
            typed = await write_until_dropped(client, writer, fast)
            # It reads again (within the hub's one-second close timeout): the close frame is there.
            with pytest.raises(Closed) as closed:
                while True:
                    await slow.read()
            assert closed.value.code == close_codes.SLOW_CONSUMER
            # The others never noticed.
            await writer.type("after")
            await fast.read_until(typed + "after")
            assert fast.ws.closed is None and writer.ws.closed is None


async def test_a_reader_that_never_reads_again_is_dropped_and_frees_its_connection(tmp_path: Path) -> None:
    async with hub_app(tmp_path, max_frame_bytes=LIMIT, send_buffer_bytes=LIMIT) as app, http(app) as client:
        async with yclient(app, "gone", window=1) as stuck, yclient(app, "gone") as fast, \
                yclient(app, "gone") as writer:
            await write_until_dropped(client, writer, fast)
            # The close frame cannot get through either: after its timeout the hub drops the transport.
            await eventually(lambda: stuck.ws.closed is not None, timeout=10, what="the stuck reader dropped")
            with pytest.raises(Closed) as dropped:
                await stuck.read()
            assert dropped.value.code is None
            await eventually(lambda: _connections(client, 2), timeout=10, what="its connection gone")


async def write_until_dropped(client: httpx.AsyncClient, writer: YClient, fast: YClient) -> str:
    """Type CHUNK-sized updates (each one through to ``fast``) until the hub reports a slow client
    dropped; returns what was typed. Fails if that came well before or well after the limit."""
    typed = ""
    while (await scrape(client))["collab_slow_client_disconnects_total"] == 0:
        # Queued for the stuck reader so far: every update after the one in flight.
        assert len(typed) <= LIMIT + 2 * CHUNK, "still connected well past send_buffer_bytes"
        typed += "x" * CHUNK
        await writer.type("x" * CHUNK)
        await fast.read_until(typed)
    assert len(typed) > LIMIT * 0.9, "dropped before its queue reached send_buffer_bytes"
    return typed


async def _connections(client: httpx.AsyncClient, count: int) -> bool:
    return (await scrape(client))["collab_connections"] == count
