"""The hub ends a running `collab join` for good: the person is told why, the folder is kept, exit 1."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from collab.commands.new import create_encrypted_room
from collab.crypto import write_link
from tests.client.join_process import JoinProcess
from tests.support.waiting import eventually
from tests.support.hub_process import HubProcess


async def test_room_gone_after_a_hub_restart_ends_the_join(tmp_path: Path) -> None:
    data = tmp_path / "data"
    hub = HubProcess(data).start()
    port = hub.port
    folder = tmp_path / "W"
    join = JoinProcess(write_link(hub.url, create_encrypted_room(hub.url)), folder, "ann").start()
    try:
        (folder / "kept.txt").write_text("written while the room existed\n")
        await asyncio.sleep(1)  # sent and stored before the hub goes
        hub.terminate()
        await eventually(lambda: "hub unreachable" in join.output(), what="the join noticing the hub is gone")
        (folder / "offline.txt").write_text("written while the hub was down\n")
        await asyncio.sleep(1)  # past the mirror's debounce: the edit waits in the provider's queue
        shutil.rmtree(data)  # the operator wiped the hub's data: the room no longer exists
        hub = HubProcess(data, port=port).start()
        assert join.proc is not None
        code = await asyncio.to_thread(join.proc.wait, 60)
    finally:
        join.stop()
        hub.stop()
    out = join.output()
    assert code == 1, out
    assert out.count("no such room on this hub") == 1 and "4404" in out, out
    assert "edits were not sent; they are kept in" in out and str(folder) in out, out
    assert "they will be sent next time" not in out
    assert (folder / "offline.txt").read_text() == "written while the hub was down\n"
    assert (folder / "kept.txt").read_text() == "written while the room existed\n"
