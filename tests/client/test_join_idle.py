"""The one slow test: 30 s of idle after real edits, and nothing flip-flops (no echo loop)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from collab.client.session import Session
from tests.client.join_process import JoinProcess
from tests.client.support import metric
from tests.support.waiting import eventually
from tests.support.hub_process import HubProcess

IDLE_S = 30


def state(folder: Path) -> dict[str, tuple[int, bytes]]:
    """The mirrored files (not .collab/, whose state.json records the settled bases up to 1 s later)."""
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.read_bytes())
            for p in folder.rglob("*") if p.is_file() and ".collab" not in p.relative_to(folder).parts}


async def test_nothing_flip_flops_while_idle(hub: HubProcess, tmp_path: Path) -> None:
    link = f"{hub.url}/s/idle-room"
    a, b = tmp_path / "A", tmp_path / "B"
    async with Session.connect(link, name="api") as api:
        for i in range(20):
            api.workspace.write(f"pkg/m{i}.py", f"x = {i}\n")
        await api.wait_idle()
        ja, jb = JoinProcess(link, a, "ann").start(), JoinProcess(link, b, "ben").start()
        try:
            (a / "pkg/m1.py").write_text("x = 'from A'\n")
            (b / "pkg/m2.py").write_text("x = 'from B'\n")
            api.workspace.write("pkg/m3.py", "x = 'from the API'\n")
            await eventually(lambda: state(a).keys() == state(b).keys() and
                             all(state(a)[k][1] == state(b)[k][1] for k in state(a)) and
                             (b / "pkg/m1.py").read_text() == "x = 'from A'\n" and
                             (a / "pkg/m2.py").read_text() == "x = 'from B'\n" and
                             (a / "pkg/m3.py").read_text() == "x = 'from the API'\n", what="settled")
            await api.wait_idle()
            before_a, before_b = state(a), state(b)
            stored = metric(hub.url, "collab_updates_stored_total")
            await asyncio.sleep(IDLE_S)
            assert state(a) == before_a
            assert state(b) == before_b
            assert metric(hub.url, "collab_updates_stored_total") == stored
        finally:
            assert ja.stop() == 0
            assert jb.stop() == 0
