"""A hub that withholds or reorders one author's updates loses no edit, and nothing is compacted over a hole.

Between a real hub and the client under test sits ``tests/support/hostile_hub.py``: it holds one
ENTRY back until later ones have gone out, swaps others, or drops one on the first connection.
Alice writes straight to the hub, one update per edit, so her author seqs equal the hub's seqs.
"""

from __future__ import annotations

import logging
from typing import Any

import pycrdt
import pytest

from collab.client.encrypted import EncryptedProvider
from collab.client.provider import ProviderError
from collab.crypto.keys import RoomKeys
from collab.crypto.links import websocket_url
from tests.e2ee.support import joined, new_room
from tests.support.hostile_hub import HostileHub, Reorder, Withhold, delivered_at, hostile_hub
from tests.support.hub_process import HubProcess
from tests.support.waiting import eventually

EDITS = {f"edit{i}": str(i) for i in range(1, 9)}


async def _write_one_by_one(hub: HubProcess, keys: RoomKeys) -> None:
    async with joined(hub, keys) as alice:
        kv = alice.doc.get("kv", type=pycrdt.Map)
        for key, value in EDITS.items():
            kv[key] = value
            await alice.flush()  # one envelope, one hub seq per edit


def _through(proxy: HostileHub, keys: RoomKeys, **options: Any) -> EncryptedProvider:
    return EncryptedProvider(keys, websocket_url(proxy.url, keys.room_id), **options)


async def _snapshot_now(provider: EncryptedProvider) -> int:
    """Compact on demand once the automatic snapshot in flight (if any) is settled."""

    async def attempt() -> int:
        try:
            return await provider.compact()
        except ProviderError as exc:
            if "in flight" in str(exc):
                return 0
            raise

    return await eventually(attempt, what="an on-demand snapshot")


async def _fresh_view(hub: HubProcess, keys: RoomKeys) -> dict[str, str]:
    async with joined(hub, keys.read_only()) as late:
        return dict(late.doc.get("kv", type=pycrdt.Map))


async def test_held_back_and_swapped_updates_all_arrive_and_no_snapshot_covers_a_hole(hub: HubProcess) -> None:
    keys = new_room(hub)
    # Delivered as 1, 2, 4, 5, 6, 3, 8, 7: the vector of issue 21.
    async with hostile_hub(hub.url, Reorder({3: 6, 7: 8})) as proxy:
        victim = _through(proxy, keys, compact_every=2)
        await victim.start(20)
        try:
            await _write_one_by_one(hub, keys)
            kv = victim.doc.get("kv", type=pycrdt.Map)
            await eventually(lambda: dict(kv) == EDITS, what="every edit at the client")
            assert victim.rejected == []
            link = proxy.links[0]
            assert [s for _, s in link.delivered] == [1, 2, 4, 5, 6, 3, 8, 7]
            # While 3 was missing the client held 4..6 and made no snapshot covering them.
            released = delivered_at(link, 3)
            assert released is not None
            assert [ref for t, ref in link.snapshots if t < released and ref >= 3] == []
            assert await _snapshot_now(victim) == 8
        finally:
            await victim.stop()
    # The hub swapped the log for that snapshot: a newcomer reads every edit from it.
    assert await _fresh_view(hub, keys) == EDITS


async def test_an_update_withheld_for_good_is_asked_for_again(hub: HubProcess, caplog: pytest.LogCaptureFixture) -> None:
    keys = new_room(hub)
    caplog.set_level(logging.INFO, logger="collab")
    async with hostile_hub(hub.url, Withhold({3})) as proxy:
        victim = _through(proxy, keys, compact_every=2, gap_wait=1.5)
        await victim.start(20)
        try:
            await _write_one_by_one(hub, keys)
            # Bob's edits (entries 9, 10) arrive whole: a snapshot is due, and must wait.
            async with joined(hub, keys) as bob:
                bob.doc.get("kv", type=pycrdt.Map)["bob"] = "9"
                await bob.flush()
                bob.doc.get("kv", type=pycrdt.Map)["bob2"] = "10"
                await bob.flush()
            kv = victim.doc.get("kv", type=pycrdt.Map)
            await eventually(lambda: dict(kv) == {**EDITS, "bob": "9", "bob2": "10"}, what="every edit at the client")
            assert victim.rejected == []
            # The first connection never got 3: the client came back from the last seq it had whole.
            assert len(proxy.links) >= 2
            assert [h.since for h in proxy.links[1].hellos] == [2]
            assert [ref for _, ref in proxy.links[0].snapshots if ref >= 3] == []
            assert "no snapshot while entries after 2 are missing (update 3 of author" in caplog.text
            assert "asking the hub again from seq 2" in caplog.text
            assert await _snapshot_now(victim) == 10
        finally:
            await victim.stop()
    assert await _fresh_view(hub, keys) == {**EDITS, "bob": "9", "bob2": "10"}
