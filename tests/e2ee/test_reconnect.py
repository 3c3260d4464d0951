"""A provider rides out a hub crash: offline edits are kept, re-sent once, and history resumes."""

from __future__ import annotations

from pathlib import Path

import pycrdt

from collab.client.encrypted import EncryptedProvider
from collab.client.provider import ProviderError, Status
from collab.crypto.keys import RoomKeys, generate_write_secret
from tests.e2ee.support import joined, new_room
from tests.support.waiting import eventually
from tests.support.ports import free_port
from tests.support.hub_process import HubProcess


async def test_kill_9_and_restart_loses_no_edit_and_duplicates_none(tmp_path: Path) -> None:
    data = tmp_path / "data"
    hub = HubProcess(data).start()
    port = hub.port
    try:
        keys = new_room(hub)
        async with joined(hub, keys, backoff_max=0.5) as alice, joined(hub, keys, backoff_max=0.5) as bob:
            ta, tb = alice.doc.get("code", type=pycrdt.Text), bob.doc.get("code", type=pycrdt.Text)
            ta += "before "
            await alice.flush()
            await eventually(lambda: str(tb) == "before ")
            hub.kill()
            await eventually(lambda: alice.status is Status.OFFLINE and bob.status is Status.OFFLINE)
            ta += "alice-offline "
            tb += "bob-offline "
            assert alice.pending == 1 and bob.pending == 1
            hub = HubProcess(data, port=port).start()
            await eventually(lambda: alice.pending == 0 and bob.pending == 0)
            await eventually(lambda: str(ta) == str(tb))
            assert "alice-offline" in str(ta) and "bob-offline" in str(ta)
            assert alice.rejected == [] and bob.rejected == [], (alice.rejected, bob.rejected)
            expected = str(ta)
        async with joined(hub, keys.read_only()) as late:
            assert str(late.doc.get("code", type=pycrdt.Text)) == expected
            assert late.rejected == []
    finally:
        hub.stop()


async def test_start_gives_up_with_a_clear_error_when_no_hub_answers(tmp_path: Path) -> None:
    keys = RoomKeys.from_write_secret(generate_write_secret())
    provider = EncryptedProvider(keys, f"ws://127.0.0.1:{free_port()}/ws/{keys.room_id}")
    try:
        await provider.start(timeout=1.0)
    except ProviderError as exc:
        assert "could not sync with the hub" in str(exc)
    else:
        raise AssertionError("start() returned without a hub")
    assert provider.status is Status.CLOSED
