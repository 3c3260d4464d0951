"""`collab join` never loses a person's files: skipped files, conflict copies, a deleted folder,
a folder already in use or belonging to another room. Real hub, real `collab join` processes, real files."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from collab.client.folderstate import MirrorError
from collab.client.mirror import Mirror
from collab.client.session import Session
from tests.client.join_process import JoinProcess
from tests.support.waiting import eventually
from tests.support.hub_process import HubProcess


def read(path: Path) -> str | None:
    try:
        return path.read_text()
    except (FileNotFoundError, IsADirectoryError, UnicodeDecodeError):
        return None


def conflict_copies(folder: Path, rel: str) -> dict[str, str]:
    """Every copy of ``rel`` set aside under .collab/conflicts/, by its path relative to the folder."""
    root = folder / ".collab" / "conflicts"
    return {str(p.relative_to(folder)): p.read_text() for p in sorted(root.glob(f"*/{rel}"))} if root.is_dir() else {}


async def test_a_skipped_local_file_is_never_written_over(hub: HubProcess, tmp_path: Path) -> None:
    link = f"{hub.url}/s/skipped-room"
    x1, x2 = tmp_path / "X1", tmp_path / "X2"
    async with Session.connect(link, name="api") as api:
        j1, j2 = JoinProcess(link, x1, "ann").start(), JoinProcess(link, x2, "ben").start()
        try:
            (x1 / "a.txt").write_text("small\n")
            (x1 / "b.txt").write_text("text for now\n")
            await eventually(lambda: read(x2 / "a.txt") == "small\n" and read(x2 / "b.txt") == "text for now\n")

            big = "y" * 1_126_400
            (x1 / "a.txt").write_text(big)
            noise = bytes(range(256)) * 12
            (x1 / "b.txt").write_bytes(noise)
            await eventually(lambda: "skipped a.txt" in j1.output() and "skipped b.txt" in j1.output(), what="skip messages")

            (x2 / "a.txt").write_text("remote edit\n")
            (x2 / "b.txt").write_text("remote edit of b\n")
            await eventually(lambda: api.workspace.read("a.txt") == "remote edit\n" and api.workspace.read("b.txt") == "remote edit of b\n")
            await eventually(lambda: "not written: a.txt" in j1.output() and "not written: b.txt" in j1.output(),
                             what="X1 says the remote versions are not written over its skipped files")
            assert (x1 / "a.txt").read_text() == big
            assert (x1 / "b.txt").read_bytes() == noise

            # A delete in the session does not remove a skipped local file either.
            (x2 / "b.txt").unlink()
            await eventually(lambda: "b.txt" not in api.workspace)
            (x2 / "marker.txt").write_text("after the delete\n")
            await eventually(lambda: read(x1 / "marker.txt") == "after the delete\n")
            assert (x1 / "b.txt").read_bytes() == noise
            assert j1.output().count("not written: a.txt") == 1  # said once
        finally:
            assert j1.stop() == 0, j1.output()
            assert j2.stop() == 0, j2.output()

        # A rejoin does not write over it either.
        api.workspace.write("a.txt", "changed again while X1 was away\n")
        await api.wait_idle()
        j1 = JoinProcess(link, x1, "ann").start()
        try:
            assert (x1 / "a.txt").read_text() == big
            assert "not written: a.txt" in j1.output()
        finally:
            assert j1.stop() == 0, j1.output()


async def test_rejoin_keeps_every_conflict_copy_and_only_conflicts_on_both_sides(hub: HubProcess, tmp_path: Path) -> None:
    link = f"{hub.url}/s/rejoin-room"
    b = tmp_path / "B"
    async with Session.connect(link, name="api") as api:
        api.workspace.write("README.md", "# demo\n")
        api.workspace.write("other.txt", "other v1\n")
        api.workspace.write("gone.txt", "to be deleted\n")
        await api.wait_idle()
        jb = JoinProcess(link, b, "ben").start()
        assert read(b / "README.md") == "# demo\n"
        assert jb.stop() == 0, jb.output()

        # Offline: edited here only -> uploaded; edited in the session only -> taken; no conflict.
        (b / "README.md").write_text("# demo\nedited offline\n")
        api.workspace.write("other.txt", "other v2\n")
        await api.wait_idle()
        jb = JoinProcess(link, b, "ben").start()
        try:
            await eventually(lambda: api.workspace.read("README.md") == "# demo\nedited offline\n", what="offline edit uploaded")
            assert read(b / "other.txt") == "other v2\n"
            assert read(b / "README.md") == "# demo\nedited offline\n"
            assert conflict_copies(b, "README.md") == conflict_copies(b, "other.txt") == {}
            assert "conflicts" not in jb.output()
        finally:
            assert jb.stop() == 0, jb.output()

        # Edited on both sides, twice: each local version is kept under its own name.
        versions = []
        for i in (1, 2):
            mine = f"# demo\nmy offline edit {i}\n"
            versions.append(mine)
            (b / "README.md").write_text(mine)
            api.workspace.write("README.md", f"# demo\nsession edit {i}\n")
            await api.wait_idle()
            jb = JoinProcess(link, b, "ben").start()
            try:
                assert read(b / "README.md") == f"# demo\nsession edit {i}\n"
                copies = conflict_copies(b, "README.md")
                assert sorted(copies.values()) == sorted(versions)
                named = [p for p in copies if p in jb.output()]
                assert len(named) == 1 and copies[named[0]] == mine, jb.output()
            finally:
                assert jb.stop() == 0, jb.output()


async def test_deleting_the_mirrored_folder_stops_join_and_deletes_nothing(hub: HubProcess, tmp_path: Path) -> None:
    link = f"{hub.url}/s/rmrf-room"
    a, b = tmp_path / "A", tmp_path / "B"
    async with Session.connect(link, name="api") as api:
        for i in range(40):
            api.workspace.write(f"pkg{i % 4}/m{i}.py", f"x = {i}\n")
        await api.wait_idle()
        expected = api.workspace.snapshot()
        ja, jb = JoinProcess(link, a, "ann").start(), JoinProcess(link, b, "ben").start()
        try:
            shutil.rmtree(a)
            assert ja.proc is not None
            await eventually(lambda: ja.proc.poll() is not None, timeout=30, what="join A stops")
            assert ja.proc.returncode == 1
            assert "was deleted or moved" in ja.output() and "nothing was deleted from the session" in ja.output()
            await asyncio.sleep(2)  # anything A wrongly sent would have arrived by now
            assert api.workspace.snapshot() == expected
            assert {str(p.relative_to(b)) for p in b.rglob("*.py")} == set(expected)
            assert not a.exists()  # and the folder was not re-created behind the person's back
        finally:
            ja.stop()
            assert jb.stop() == 0, jb.output()


async def test_a_second_join_on_the_same_folder_is_refused(hub: HubProcess, tmp_path: Path) -> None:
    link = f"{hub.url}/s/lock-room"
    a = tmp_path / "A"
    ja = JoinProcess(link, a, "ann").start()
    try:
        second = subprocess.run([sys.executable, "-m", "collab.cli", "join", link, "--dir", str(a), "--name", "bob"],
                                capture_output=True, text=True, timeout=60)
        assert second.returncode == 1
        assert ja.proc is not None
        assert f"already mirrored by process {ja.proc.pid}" in second.stderr, second.stderr
        (a / "still.txt").write_text("the first join still works\n")
        async with Session.connect(link, name="api") as api:
            await eventually(lambda: "still.txt" in api.workspace)
    finally:
        assert ja.stop() == 0, ja.output()
    # Once the first one stopped, the folder can be joined again.
    JoinProcess(link, a, "ann").start().stop()


async def test_a_folder_of_one_room_is_not_mirrored_into_another(hub: HubProcess, tmp_path: Path) -> None:
    folder = tmp_path / "F"
    async with Session.connect(f"{hub.url}/s/room-one", name="one") as one:
        one.workspace.write("one.txt", "belongs to room one\n")
        await one.wait_idle()
        mirror = Mirror(one.workspace, folder, room="room-one", report=lambda _: None)
        await mirror.initial_sync()
        stop = asyncio.Event()
        stop.set()
        await mirror.run(stop)
    assert read(folder / "one.txt") == "belongs to room one\n"

    async with Session.connect(f"{hub.url}/s/room-two", name="two") as two:
        with pytest.raises(MirrorError, match="mirrors room room-one, not room-two.*remove"):
            await Mirror(two.workspace, folder, room="room-two", report=lambda _: None).initial_sync()
        await asyncio.sleep(0.5)
        assert two.workspace.paths() == []
        # The refusal let go of the folder: room one can still be mirrored there.
    async with Session.connect(f"{hub.url}/s/room-one", name="one") as one:
        await Mirror(one.workspace, folder, room="room-one", report=lambda _: None).initial_sync()


async def test_rejoin_merges_edits_of_different_lines_made_on_both_sides(hub: HubProcess, tmp_path: Path) -> None:
    link = f"{hub.url}/s/merge-room"
    b = tmp_path / "B"
    base = "".join(f"line {i}\n" for i in range(10))
    async with Session.connect(link, name="api") as api:
        api.workspace.write("notes.txt", base)
        await api.wait_idle()
        jb = JoinProcess(link, b, "ben").start()
        assert read(b / "notes.txt") == base
        assert jb.stop() == 0, jb.output()

        (b / "notes.txt").write_text(base.replace("line 1\n", "line 1 edited here\n"))
        api.workspace.write("notes.txt", base.replace("line 8\n", "line 8 edited in the session\n"))
        await api.wait_idle()
        merged = base.replace("line 1\n", "line 1 edited here\n").replace("line 8\n", "line 8 edited in the session\n")
        jb = JoinProcess(link, b, "ben").start()
        try:
            assert read(b / "notes.txt") == merged
            await eventually(lambda: api.workspace.read("notes.txt") == merged, what="the merge in the session")
            assert conflict_copies(b, "notes.txt") == {}
            assert "notes.txt: merged" in jb.output()
        finally:
            assert jb.stop() == 0, jb.output()


async def mirror_once(session: Session, folder: Path, room: str) -> list[str]:
    """Start a mirror of ``session`` in ``folder``, sync, stop; what it told the person."""
    told: list[str] = []
    mirror = Mirror(session.workspace, folder, room=room, report=told.append)
    await mirror.initial_sync()
    stop = asyncio.Event()
    stop.set()
    await mirror.run(stop)
    await session.wait_idle()
    return told


async def test_a_delete_made_while_away_is_applied_and_an_edit_here_wins_over_it(hub: HubProcess, tmp_path: Path) -> None:
    folder = tmp_path / "F"
    async with Session.connect(f"{hub.url}/s/away-room", name="api") as api:
        api.workspace.write("drop.txt", "deleted while away\n")
        api.workspace.write("keep.txt", "deleted there, edited here\n")
        api.workspace.write("stay.txt", "untouched\n")
        await api.wait_idle()
        await mirror_once(api, folder, "away-room")
        assert read(folder / "drop.txt") == "deleted while away\n"

        api.workspace.delete("drop.txt")
        api.workspace.delete("keep.txt")
        (folder / "keep.txt").write_text("deleted there, edited here: my edit\n")
        told = await mirror_once(api, folder, "away-room")
        assert not (folder / "drop.txt").exists()  # not uploaded back: that would undo the delete
        assert "drop.txt" not in api.workspace
        assert api.workspace.read("keep.txt") == "deleted there, edited here: my edit\n"
        assert read(folder / "stay.txt") == "untouched\n"
        assert any("drop.txt" in line and "deleted in the session" in line for line in told), told


async def test_moving_the_mirrored_folder_away_stops_join_and_deletes_nothing(hub: HubProcess, tmp_path: Path) -> None:
    link = f"{hub.url}/s/mv-room"
    a = tmp_path / "A"
    async with Session.connect(link, name="api") as api:
        for i in range(10):
            api.workspace.write(f"m{i}.py", f"x = {i}\n")
        await api.wait_idle()
        expected = api.workspace.snapshot()
        ja = JoinProcess(link, a, "ann").start()
        try:
            a.rename(tmp_path / "elsewhere")
            assert ja.proc is not None
            await eventually(lambda: ja.proc.poll() is not None, timeout=30, what="join stops")
            assert ja.proc.returncode == 1 and "was deleted or moved" in ja.output(), ja.output()
            await asyncio.sleep(1)
            assert api.workspace.snapshot() == expected
            assert not a.exists()
        finally:
            ja.stop()


async def test_a_slow_rm_rf_that_reaches_collab_last_deletes_nothing(hub: HubProcess, tmp_path: Path) -> None:
    link = f"{hub.url}/s/slow-rm-room"
    a = tmp_path / "A"
    async with Session.connect(link, name="api") as api:
        for i in range(30):
            api.workspace.write(f"pkg{i % 3}/m{i}.py", f"x = {i}\n")
        await api.wait_idle()
        expected = api.workspace.snapshot()
        ja = JoinProcess(link, a, "ann").start()
        try:
            for child in a.iterdir():  # every file first, .collab last, like rm -rf on a big tree
                if child.name != ".collab":
                    shutil.rmtree(child)
            await asyncio.sleep(0.5)
            shutil.rmtree(a)
            assert ja.proc is not None
            await eventually(lambda: ja.proc.poll() is not None, timeout=30, what="join stops")
            assert ja.proc.returncode == 1 and "was deleted or moved" in ja.output(), ja.output()
            await asyncio.sleep(1)
            assert api.workspace.snapshot() == expected
        finally:
            ja.stop()
