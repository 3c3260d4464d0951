"""A hub that shows members different logs is detected (docs/e2ee.md, "Fork detection").

Between a real hub and one member sits ``tests/support/hostile_hub.py``. It tells that member other
seqs for two entries (the hub's numbering is not signed: the same envelopes, another history), or
shows it only an old prefix of the log and says that is the head. Content stays consistent either
way (the envelopes are genuine); what the members' gossiped log hashes show is the difference.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable

import pycrdt
import pytest

from collab.client.encrypted import EncryptedProvider
from collab.crypto.links import websocket_url
from tests.e2ee.support import joined, new_room
from tests.support.hostile_hub import Relabel, Stale, hostile_hub
from tests.support.hub_process import HubProcess

pytestmark = pytest.mark.asyncio


async def until(check: Callable[[], bool], timeout: float = 20.0) -> None:
    async def wait() -> None:
        while not check():
            await asyncio.sleep(0.05)

    await asyncio.wait_for(wait(), timeout)


def kv(p: EncryptedProvider) -> dict[str, Any]:
    return dict(p.doc.get("kv", type=pycrdt.Map))


async def _write(p: EncryptedProvider, n: int, prefix: str) -> None:
    for i in range(n):
        p.doc.get("kv", type=pycrdt.Map)[f"{prefix}{i}"] = i
        await p.flush()  # one envelope per edit


async def test_a_relabelled_log_is_a_fork_both_sides_see(hub: HubProcess) -> None:
    keys = new_room(hub)
    async with joined(hub, keys) as ada:
        ada.awareness.set_local_state({"name": "ada"})
        await _write(ada, 4, "a")
        async with hostile_hub(hub.url, Relabel({2: 3, 3: 2})) as proxy:
            bob = EncryptedProvider(keys.read_only(), websocket_url(proxy.url, keys.room_id))
            await bob.start(20)
            try:
                bob.awareness.set_local_state({"name": "bob"})
                await until(lambda: kv(bob) == kv(ada))  # the content is the same: genuine envelopes
                await until(lambda: bool(bob.forks) and bool(ada.forks))
                assert "was shown another log than this client" in bob.forks[0]
                assert ada.log_code != bob.log_code
                assert ada.log_code.startswith("4:")
            finally:
                await bob.stop()
        # An honest member alongside sees the same log as ada: no warning between them.
        async with joined(hub, keys.read_only()) as cy:
            cy.awareness.set_local_state({"name": "cy"})
            await until(lambda: cy.log_code == ada.log_code)
            await asyncio.sleep(2.5)
            assert cy.forks == []


async def test_a_stale_view_is_detected_through_a_peer_that_saw_more(hub: HubProcess) -> None:
    keys = new_room(hub)
    async with joined(hub, keys) as ada:
        ada.awareness.set_local_state({"name": "ada"})
        await _write(ada, 3, "old")
        await ada.compact()  # a snapshot covering 1..3: what a stale hub would keep serving
        await _write(ada, 3, "new")
        async with hostile_hub(hub.url, Stale(3)) as proxy:
            late = EncryptedProvider(keys.read_only(), websocket_url(proxy.url, keys.room_id))
            await late.start(20)
            try:
                late.awareness.set_local_state({"name": "late"})
                assert kv(late) == {f"old{i}": i for i in range(3)}  # it believes that is all
                await until(lambda: bool(late.forks))
                assert "the hub may be withholding entries" in late.forks[0]
            finally:
                await late.stop()
