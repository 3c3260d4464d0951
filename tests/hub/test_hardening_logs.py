"""A client cannot choose how much the hub logs, and a HELLO from the far end of the seq range is a
protocol error, not a store failure (issue 13, low).

Before: every malformed frame wrote about four lines (uvicorn's three per connection and ours),
every refused frame of an encrypted connection one line, with no limit; HELLO with since >= 2^63
logged an ERROR from the store and closed with 1013 ("try again"). Raw frames throughout.
"""

from __future__ import annotations

import asyncio
import contextlib

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from collab.protocol import close_codes
from collab.protocol import relay_frames as frames
from tests.e2ee.support import new_room, raw_client, room_url
from tests.support.hub_process import HubProcess
from tests.support.waiting import eventually

FRAMES = 3000


async def test_a_reader_writing_thousands_of_refused_frames_costs_a_line_or_two(hub: HubProcess) -> None:
    keys = new_room(hub)
    async with raw_client(room_url(hub, keys)) as raw:
        await raw.hello(keys.read_only())  # a reader: every PUBLISH is refused with NACK 2
        for ref in range(1, FRAMES + 1):
            await raw.ws.send(frames.publish(ref, b"\x00" * 64))
        nacks = 0
        while nacks < FRAMES:
            if isinstance(await raw.recv(), frames.Nack):
                nacks += 1
    await eventually(lambda: "NACK 2" in hub.log(), 5, what="the first NACK line")
    lines = hub.log().count("NACK 2")
    print(f"{FRAMES} refused frames, {lines} log lines")
    assert 1 <= lines <= 2, hub.log()[-2000:]


async def test_a_hundred_malformed_connections_write_one_line_each(hub: HubProcess) -> None:
    for _ in range(100):
        async with connect(f"{hub.ws_url}/ws/junk") as ws:
            with contextlib.suppress(ConnectionClosed):
                await ws.send(b"\x09junk")
                while True:  # the hub's sync step 1 may come first
                    await asyncio.wait_for(ws.recv(), 10)
        assert ws.close_code == close_codes.PROTOCOL_ERROR
    await eventually(lambda: hub.log().count("unknown message type 9") == 100, 10, what="a line per connection")
    log = hub.log()
    for uvicorn_line in ('"WebSocket /ws/junk" [accepted]', "connection open", "connection closed"):
        assert log.count(uvicorn_line) <= 2, (uvicorn_line, log[-3000:])


async def test_hello_since_past_the_seq_range_is_a_protocol_error(hub: HubProcess) -> None:
    keys = new_room(hub)
    for since in (2**63, 2**64 - 1):
        async with raw_client(room_url(hub, keys)) as raw:
            with contextlib.suppress(ConnectionClosed):
                await raw.ws.send(frames.hello(frames.ROLE_READER, since))
                await raw.recv()
            assert raw.ws.close_code == close_codes.PROTOCOL_ERROR, raw.ws.close_code
            assert "past the largest seq" in (raw.ws.close_reason or "")
    async with raw_client(room_url(hub, keys)) as raw:  # the largest valid one is a plain resume
        assert isinstance((await raw.hello(keys.read_only(), since=2**63 - 1))[-1], frames.Synced)
    assert " ERROR " not in hub.log() and "unavailable" not in hub.log(), hub.log()[-3000:]
