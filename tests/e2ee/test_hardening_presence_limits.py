"""Presence in an encrypted room is bounded at the hub (issue 13, finding 3): the size of one
connection's envelope and the rate at which the hub relays them.

The attacker holds only the room id (anyone who has seen the URL path connects as a reader) and
speaks raw collab-e2ee.v1 frames; the hub cannot open presence, so it bounds what it relays blind.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from collab.protocol import relay_frames as frames
from collab.protocol import yjs
from collab.protocol.envelope import new_author_id, seal_awareness
from tests.e2ee.support import RawClient, new_room, raw_client, room_url
from tests.support.hub_process import HubProcess

RATE = 10  # the hub's default --presence-updates-per-second


def presence(keys_ro: object, session: bytes, counter: int, size: int = 0) -> bytes:
    state = '{"user": {"name": "mallory"}, "pad": "' + "x" * size + '"}'
    update = yjs.encode_awareness([yjs.AwarenessEntry(7, counter, state)])
    return frames.awareness(seal_awareness(keys_ro, session, counter, update))  # type: ignore[arg-type]


async def relayed_from(watcher: RawClient, conn_id: int, quiet: float) -> list[bytes]:
    """Every presence envelope of ``conn_id`` the watcher gets until nothing comes for ``quiet`` s."""
    got: list[bytes] = []
    while True:
        try:
            frame = await watcher.recv(quiet)
        except (TimeoutError, asyncio.TimeoutError):
            return got
        if isinstance(frame, frames.AwarenessRelay) and frame.conn_id == conn_id:
            got.append(frame.envelope)


async def test_presence_faster_than_the_rate_is_coalesced(hub: HubProcess) -> None:
    keys = new_room(hub)
    async with raw_client(room_url(hub, keys)) as watcher, raw_client(room_url(hub, keys)) as evil:
        await watcher.hello(keys.read_only())
        await evil.hello(keys.read_only())
        session, sent = new_author_id(), 200
        start = time.monotonic()
        envelopes = [presence(keys.read_only(), session, n) for n in range(1, sent + 1)]
        for frame in envelopes:
            await evil.ws.send(frame)
        # The evil connection's conn id is in the AWARENESS frames the watcher receives.
        first = await watcher.recv(10)
        assert isinstance(first, frames.AwarenessRelay)
        got = [first.envelope, *await relayed_from(watcher, first.conn_id, 1.5)]
        elapsed = time.monotonic() - start - 1.5
        print(f"{sent} presence envelopes in {elapsed:.2f} s: {len(got)} relayed")
        assert got[-1] == envelopes[-1][1:]  # the latest one always goes out
        assert len(got) <= RATE + RATE * elapsed + 2, (len(got), elapsed)


async def test_presence_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    hub = HubProcess(tmp_path / "data", "--max-presence-bytes", "4096").start()
    try:
        keys = new_room(hub)
        async with raw_client(room_url(hub, keys)) as watcher, raw_client(room_url(hub, keys)) as evil:
            await watcher.hello(keys.read_only())
            await evil.hello(keys.read_only())
            session = new_author_id()
            await evil.ws.send(presence(keys.read_only(), session, 1, size=5000))
            nack = await evil.recv(10)
            assert isinstance(nack, frames.Nack) and nack.code == frames.NackCode.INVALID_ENVELOPE, nack
            assert "over the 4096-byte limit" in nack.reason
            small = presence(keys.read_only(), session, 2, size=100)
            await evil.ws.send(small)
            relayed = await watcher.recv(10)
            assert isinstance(relayed, frames.AwarenessRelay) and relayed.envelope == small[1:]
    finally:
        hub.stop()
