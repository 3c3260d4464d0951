"""A folder mirrors one room: joining it with another room's link is refused and uploads nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


from collab.workspace import Workspace
from tests.client.join_process import JoinProcess
from tests.support.hub_process import HubProcess
from tests.support.yclient import pycrdt_client


async def test_a_folder_of_one_room_is_not_joined_to_another(hub: HubProcess, tmp_path: Path) -> None:
    folder = tmp_path / "work"
    first = JoinProcess(f"{hub.url}/s/room-one", folder, "ann").start()
    (folder / "private.py").write_text("secret_of_room_one = 1\n")
    assert first.stop() == 0
    other = subprocess.run(
        [sys.executable, "-m", "collab.cli", "join", f"{hub.url}/s/room-two", "--dir", str(folder), "--name", "ann"],
        capture_output=True, text=True, timeout=60,
    )
    assert other.returncode != 0
    assert "mirrors room room-one, not room-two" in other.stderr
    assert "Traceback" not in other.stderr
    # Nothing of the folder reached the other room.
    async with pycrdt_client(f"{hub.ws_url}/ws/room-two") as client:
        assert Workspace(client).paths() == []
