"""Presence in a plaintext room is bounded at the hub (issue 13, finding 3 and the low finding on
nested presence): entries per update and per connection, bytes per connection, rate, depth.

The attacker is anyone who knows a room's name (a plaintext room is created by its first
connect), speaking raw y-websocket frames. A watcher in the same room records what the hub relays.
"""

from __future__ import annotations

import asyncio
import json
import time

from websockets.exceptions import ConnectionClosed

from tests.hub.presence_clients import attacker, presence_update, watching
from tests.support.hub_process import HubProcess
from tests.support.waiting import eventually
from tests.support.yclient import pycrdt_session

MAX_CLIENTS = 8  # the hub's default --max-presence-clients
MAX_BYTES = 64 * 1024  # its default --max-presence-bytes
RATE = 10  # its default --presence-updates-per-second


def state(**fields: object) -> str:
    return json.dumps({"user": {"name": "mallory", "color": "#ff0000"}, **fields})


async def test_an_update_with_a_million_entries_is_refused(hub: HubProcess) -> None:
    url = f"{hub.ws_url}/ws/million"
    flood = presence_update([(cid, 1, "{}") for cid in range(1, 1_000_001)])
    assert len(flood) < 8 * 1024 * 1024  # under the frame limit: the hub must read it
    async with watching(url) as watcher, attacker(url) as evil:
        await evil.send(flood)
        async with pycrdt_session(url) as friend:
            await friend.set_presence({"user": {"name": "ann", "color": "#00ff00"}})
            # The friend's presence, sent after the flood, arrives; nothing of the flood did.
            await eventually(lambda: friend.doc.client_id in watcher.clients(), 20, what="the friend's presence")
            assert watcher.clients() == {friend.doc.client_id}
    assert "presence refused" in hub.log()


async def test_one_connection_speaks_for_a_few_clients_only(hub: HubProcess) -> None:
    url = f"{hub.ws_url}/ws/many-clients"
    async with watching(url) as watcher, attacker(url) as evil:
        for batch in range(50):  # 1,000 client ids, 20 new ones an update
            await evil.send(presence_update([(batch * 20 + i + 1, 1, state()) for i in range(20)]))
        marker = 10**9
        async with attacker(url) as other:
            await other.send(presence_update([(marker, 1, state())]))
            await eventually(lambda: marker in watcher.clients(), 20, what="another connection's presence")
        assert len(watcher.clients() - {marker}) == MAX_CLIENTS


async def test_presence_bytes_per_connection_are_bounded(hub: HubProcess) -> None:
    url = f"{hub.ws_url}/ws/big-states"
    async with watching(url) as watcher, attacker(url) as evil:
        await evil.send(presence_update([(1, 1, state(pad="x" * (MAX_BYTES + 1)))]))  # one state over it
        twenty_kb = state(pad="y" * 20_000)
        for cid in range(2, 7):  # five states of 20 kB: three fit in 64 KiB
            await evil.send(presence_update([(cid, 1, twenty_kb)]))
        await evil.send(presence_update([(7, 1, state())]))  # small: still fits
        await eventually(lambda: 7 in watcher.clients(), 20, what="the small state")
        assert watcher.clients() == {2, 3, 4, 7}
        # What the hub holds for that connection is what a newcomer gets: the same four.
        async with watching(url) as newcomer:
            await eventually(lambda: newcomer.clients(), 20, what="the newcomer's first presence")
            assert newcomer.clients() == {2, 3, 4, 7}


async def test_nested_presence_closes_the_sender_cleanly(hub: HubProcess) -> None:
    url = f"{hub.ws_url}/ws/nested"
    nested = "[" * 1000 + "]" * 1000  # json.loads raised RecursionError from 977 levels deep
    async with watching(url) as watcher:
        async with attacker(url) as evil:
            await evil.send(presence_update([(1, 1, nested)]))
            try:
                while True:
                    await asyncio.wait_for(evil.recv(), 10)
            except ConnectionClosed as closed:
                assert closed.rcvd is not None and closed.rcvd.code == 1002, closed
                assert "nests deeper" in closed.rcvd.reason
        async with pycrdt_session(url) as friend:
            await friend.set_presence({"user": {"name": "ann"}})
            await eventually(lambda: friend.doc.client_id in watcher.clients(), 20, what="the friend's presence")
        assert 1 not in watcher.clients()
    assert "Traceback" not in hub.log() and "RecursionError" not in hub.log()


async def test_presence_faster_than_the_rate_is_coalesced(hub: HubProcess) -> None:
    url = f"{hub.ws_url}/ws/fast"
    sent = 300
    async with watching(url) as watcher, attacker(url) as evil:
        start = time.monotonic()
        for clock in range(1, sent + 1):
            await evil.send(presence_update([(1, clock, state(cursor=clock))]))
        # The latest state gets through, and far fewer relays than updates carried it.
        await eventually(lambda: (watcher.last(1) or (0, b""))[0] == sent, 20, what="the latest state")
        elapsed = time.monotonic() - start
        relayed = watcher.frames_naming(1)
        print(f"{sent} presence updates in {elapsed:.2f} s: {relayed} relayed")
        assert relayed <= RATE + RATE * elapsed + 2, (relayed, elapsed)
        assert json.loads(watcher.last(1)[1])["cursor"] == sent  # type: ignore[index]
