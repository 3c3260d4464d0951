"""`kill -9` of `collab join` at any moment: the next join sets aside no file nobody changed, and loses
no edit made here. The folder's record of what disk and session agreed on is written with (before)
every disk write and every edit sent, not up to a second later."""

from __future__ import annotations

import signal
from pathlib import Path

from collab.client.reconcile import text_hash
from collab.client.session import Session
from tests.client.join_process import JoinProcess
from tests.support.hub_process import HubProcess
from tests.support.waiting import eventually

LINES = "".join(f"line {i}\n" for i in range(10))


def read(path: Path) -> str | None:
    try:
        return path.read_text()
    except (FileNotFoundError, IsADirectoryError):
        return None


def conflict_copies(folder: Path) -> list[str]:
    root = folder / ".collab" / "conflicts"
    return sorted(str(p.relative_to(folder)) for p in root.rglob("*") if p.is_file()) if root.is_dir() else []


def kill9(join: JoinProcess) -> None:
    assert join.proc is not None
    join.proc.send_signal(signal.SIGKILL)
    join.proc.wait(10)


def edit(text: str, line: int, what: str) -> str:
    return text.replace(f"line {line}\n", f"line {line} {what}\n")


async def test_a_kill_9_right_after_a_write_or_a_send_makes_no_conflict_copy(hub: HubProcess, tmp_path: Path) -> None:
    link = f"{hub.url}/s/kill-room"
    folder = tmp_path / "V"
    async with Session.connect(link, name="api") as api:
        api.workspace.write("remote.txt", LINES)
        api.workspace.write("local.txt", LINES)
        await api.wait_idle()
        join = JoinProcess(link, folder, "ann").start()
        assert read(folder / "remote.txt") == LINES

        # The session changes files (one new); the join writes them to disk and is killed at once.
        v2 = edit(LINES, 1, "edited in the session")
        api.workspace.write("remote.txt", v2)
        api.workspace.write("new.txt", LINES)
        await eventually(lambda: read(folder / "remote.txt") == v2 and read(folder / "new.txt") == LINES)
        kill9(join)
        # While it is away the session moves on from what the join wrote.
        api.workspace.write("remote.txt", edit(v2, 8, "edited again"))
        api.workspace.write("new.txt", edit(LINES, 8, "edited again"))
        await api.wait_idle()
        join = JoinProcess(link, folder, "ann").start()
        assert read(folder / "remote.txt") == edit(v2, 8, "edited again")
        assert read(folder / "new.txt") == edit(LINES, 8, "edited again")
        assert conflict_copies(folder) == [], join.output()

        # An edit made here reaches the session; the join is killed at once; the session moves on.
        mine = edit(LINES, 1, "edited here")
        (folder / "local.txt").write_text(mine)
        await eventually(lambda: "local.txt" in api.workspace and api.workspace.read("local.txt") == mine)
        kill9(join)
        api.workspace.write("local.txt", edit(mine, 8, "edited in the session"))
        await api.wait_idle()
        join = JoinProcess(link, folder, "ann").start()
        try:
            assert read(folder / "local.txt") == edit(mine, 8, "edited in the session")
            assert conflict_copies(folder) == [], join.output()
        finally:
            assert join.stop() == 0, join.output()


async def test_an_edit_made_while_the_hub_was_down_survives_a_kill_9(tmp_path: Path) -> None:
    data, folder = tmp_path / "data", tmp_path / "V"
    hub = HubProcess(data).start()
    link = f"{hub.url}/s/offline-room"
    try:
        async with Session.connect(link, name="api") as api:
            api.workspace.write("notes.txt", LINES)
            await api.wait_idle()
        join = JoinProcess(link, folder, "ann").start()
        assert read(folder / "notes.txt") == LINES
        hub.kill()
        await eventually(lambda: "hub unreachable" in join.output(), what="the join noticing the hub is gone")
        mine = edit(LINES, 4, "edited while the hub was down")
        (folder / "notes.txt").write_text(mine)
        # The join has recorded the edit in its folder state; then it is killed, the edit never sent.
        state = folder / ".collab"
        await eventually(lambda: any(text_hash(mine) in (read(p) or "") for p in (state / "state.json", state / "journal")),
                         what="the edit recorded in .collab/")
        kill9(join)
        hub = HubProcess(data, port=hub.port).start()
        join = JoinProcess(link, folder, "ann").start()
        try:
            assert read(folder / "notes.txt") == mine, join.output()
            async with Session.connect(link, name="api") as api:
                await eventually(lambda: api.workspace.read("notes.txt") == mine, what="the edit in the session")
            assert conflict_copies(folder) == []
        finally:
            assert join.stop() == 0, join.output()
    finally:
        hub.stop()
