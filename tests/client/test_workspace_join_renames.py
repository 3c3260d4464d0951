"""`collab join` and renames: a rename on disk is a rename in the session (the file keeps its id and
every edit made to it meanwhile), and a rename in the session is one rename on disk (same inode)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pycrdt

from collab.client.mirror import Mirror
from collab.workspace import Workspace

from tests.client.join_process import JoinProcess
from tests.client.workspace_clients import clients, converged
from tests.support.hub_process import HubProcess
from tests.support.waiting import eventually


def read(path: Path) -> str | None:
    try:
        return path.read_text()
    except (FileNotFoundError, IsADirectoryError):
        return None


HELPERS = "def helper():\n    return 1\n"


async def test_an_offline_edit_survives_a_rename_on_disk(hub: HubProcess, tmp_path: Path) -> None:
    link = f"{hub.url}/s/join-rename-disk"
    folder = tmp_path / "mirror"
    async with clients(link, "ada", "bob") as (ada, bob):
        ada.ws.write("src/app/helpers.py", HELPERS)
        ada.ws.write("README.md", "hello\n")
        await converged(ada, bob)
        file_id = ada.ws.file_id("src/app/helpers.py")
        join = JoinProcess(link, folder, "joe").start()
        try:
            await eventually(lambda: read(folder / "src/app/helpers.py") == HELPERS, timeout=20)
            # Bob edits the file while offline; meanwhile it is renamed in joe's folder.
            await bob.offline()
            bob.ws.write("src/app/helpers.py", HELPERS + "# bob was here\n")
            os.rename(folder / "src/app/helpers.py", folder / "src/app/tools.py")
            await eventually(lambda: "src/app/tools.py" in ada.ws, timeout=20, what="the rename reaches ada")
            assert ada.ws.file_id("src/app/tools.py") == file_id  # the same file, not a new one
            assert ada.ws.trash() == [] and "src/app/helpers.py" not in ada.ws
            await bob.online()
            files, trash = await converged(ada, bob)
            assert files == {"src/app/tools.py": HELPERS + "# bob was here\n", "README.md": "hello\n"}
            assert trash == []
            await eventually(lambda: read(folder / "src/app/tools.py") == HELPERS + "# bob was here\n", timeout=20)
            assert read(folder / "src/app/helpers.py") is None
        finally:
            assert join.stop() == 0, join.output()


async def test_a_folder_renamed_on_disk_keeps_its_files_and_their_edits(hub: HubProcess, tmp_path: Path) -> None:
    link = f"{hub.url}/s/join-rename-folder"
    folder = tmp_path / "mirror"
    tree = {"src/__init__.py": "", "src/util/__init__.py": "", "src/util/strings.py": "def up(s):\n    return s.upper()\n",
            "src/main.py": "print('hi')\n", "notes.md": "notes\n"}
    async with clients(link, "ada") as (ada,):
        for path, text in tree.items():
            ada.ws.write(path, text)
        ids = {path: ada.ws.file_id(path) for path in tree}
        join = JoinProcess(link, folder, "joe").start()
        try:
            for path, text in tree.items():
                await eventually(lambda path=path, text=text: read(folder / path) == text, timeout=20)
            os.rename(folder / "src", folder / "lib")
            # Ada types into a file of the folder while it moves.
            ada.ws.write("src/main.py", "print('hi')\nprint('ada')\n")
            moved = {("lib" + p[3:] if p.startswith("src/") else p): t for p, t in tree.items()}
            moved["lib/main.py"] = "print('hi')\nprint('ada')\n"
            await eventually(lambda: ada.ws.snapshot() == moved, timeout=20, what="the folder moved in the session")
            # Every file is the one it was (the two empty __init__.py each kept its own id), none went to the trash.
            assert {p: ada.ws.file_id(p) for p in moved} == {
                ("lib" + p[3:] if p.startswith("src/") else p): fid for p, fid in ids.items()
            }
            assert ada.ws.trash() == []
            await eventually(lambda: read(folder / "lib/main.py") == "print('hi')\nprint('ada')\n", timeout=20)
            assert not (folder / "src").exists()
        finally:
            assert join.stop() == 0, join.output()


async def test_a_rename_in_the_session_is_one_rename_on_disk(hub: HubProcess, tmp_path: Path) -> None:
    link = f"{hub.url}/s/join-rename-session"
    folder = tmp_path / "mirror"
    async with clients(link, "ada") as (ada,):
        ada.ws.write("src/helpers.py", HELPERS)
        ada.ws.write("src/pkg/a.py", "a = 1\n")
        ada.ws.write("src/pkg/b.py", "b = 2\n")
        join = JoinProcess(link, folder, "joe").start()
        try:
            await eventually(lambda: read(folder / "src/pkg/b.py") == "b = 2\n", timeout=20)
            inode = (folder / "src/helpers.py").stat().st_ino
            ada.ws.rename("src/helpers.py", "src/tools.py")
            await eventually(lambda: read(folder / "src/tools.py") == HELPERS, timeout=20)
            assert read(folder / "src/helpers.py") is None
            assert (folder / "src/tools.py").stat().st_ino == inode  # moved, not deleted and written anew
            # A folder renamed in the session moves its files on disk, and leaves no empty folder behind.
            inodes = {p: (folder / "src/pkg" / p).stat().st_ino for p in ("a.py", "b.py")}
            ada.ws.rename_folder("src/pkg", "lib/pkg")
            await eventually(lambda: read(folder / "lib/pkg/b.py") == "b = 2\n" and read(folder / "lib/pkg/a.py") == "a = 1\n",
                             timeout=20)
            assert {p: (folder / "lib/pkg" / p).stat().st_ino for p in ("a.py", "b.py")} == inodes
            assert not (folder / "src/pkg").exists()
            # An edit saved on disk after the rename lands in the same file for everyone.
            (folder / "src/tools.py").write_text(HELPERS + "# joe\n")
            await eventually(lambda: ada.ws.snapshot().get("src/tools.py") == HELPERS + "# joe\n", timeout=20)
            assert ada.ws.trash() == []
        finally:
            assert join.stop() == 0, join.output()


async def test_files_renamed_while_the_join_was_stopped_are_renamed_on_the_next_join(hub: HubProcess, tmp_path: Path) -> None:
    link = f"{hub.url}/s/join-rename-away"
    folder = tmp_path / "mirror"
    async with clients(link, "ada") as (ada,):
        ada.ws.write("src/helpers.py", HELPERS)
        ada.ws.write("src/pkg/__init__.py", "")
        ada.ws.write("notes.md", "notes\n")
        ids = {p: ada.ws.file_id(p) for p in ("src/helpers.py", "src/pkg/__init__.py")}
        join = JoinProcess(link, folder, "joe").start()
        await eventually(lambda: read(folder / "notes.md") == "notes\n", timeout=20)
        assert join.stop() == 0, join.output()
        # While joe's mirror is stopped: he renames a file and moves a folder; ada edits the file.
        os.rename(folder / "src/helpers.py", folder / "src/tools.py")
        os.rename(folder / "src/pkg", folder / "lib")
        ada.ws.write("src/helpers.py", HELPERS + "# ada, meanwhile\n")
        join = JoinProcess(link, folder, "joe").start()
        try:
            want = {"src/tools.py": HELPERS + "# ada, meanwhile\n", "lib/__init__.py": "", "notes.md": "notes\n"}
            await eventually(lambda: ada.ws.snapshot() == want, timeout=20, what="the renames reach the session")
            assert ada.ws.file_id("src/tools.py") == ids["src/helpers.py"]
            assert ada.ws.file_id("lib/__init__.py") == ids["src/pkg/__init__.py"]
            assert ada.ws.trash() == []
            await eventually(lambda: read(folder / "src/tools.py") == HELPERS + "# ada, meanwhile\n", timeout=20)
            assert read(folder / "src/helpers.py") is None and not (folder / "src/pkg").exists()
            assert not (folder / ".collab/conflicts").exists(), join.output()
        finally:
            assert join.stop() == 0, join.output()


async def test_a_safe_save_through_a_backup_name_is_an_edit_not_a_rename(hub: HubProcess, tmp_path: Path) -> None:
    # JetBrains' "safe write": the original goes to a backup name, the new text is written, the
    # backup is removed. The watcher may report the moment in between: that is no rename.
    link = f"{hub.url}/s/join-safe-save"
    folder = tmp_path / "mirror"
    async with clients(link, "ada") as (ada,):
        ada.ws.write("app.py", HELPERS)
        file_id = ada.ws.file_id("app.py")
        join = JoinProcess(link, folder, "joe").start()
        try:
            await eventually(lambda: read(folder / "app.py") == HELPERS, timeout=20)
            os.rename(folder / "app.py", folder / "app.py___jb_old___")
            await asyncio.sleep(0.25)  # one watcher batch (200 ms debounce) sees only the backup
            (folder / "app.py").write_text(HELPERS + "# saved\n")
            os.unlink(folder / "app.py___jb_old___")
            await eventually(lambda: ada.ws.snapshot().get("app.py") == HELPERS + "# saved\n", timeout=20)
            assert ada.ws.file_id("app.py") == file_id  # the same file: edits made to it meanwhile stay in it
            await eventually(lambda: "app.py___jb_old___" not in ada.ws, timeout=20)
        finally:
            assert join.stop() == 0, join.output()


async def test_a_folder_move_the_watcher_reports_without_its_new_names_is_still_a_rename(tmp_path: Path) -> None:
    # Under load the watcher can report the old folder gone in one batch and the new names in a
    # later one (or never, for a rescan): the mirror looks for them on disk before deleting anything.
    doc: pycrdt.Doc[Any] = pycrdt.Doc()
    ws = Workspace(doc, user="ada")
    ws.migrate()
    for i in range(30):
        ws.write(f"src/pkg{i % 3}/m{i}.py", f"value = {i}\n")
    ids = {p: ws.file_id(p) for p in ws.paths()}
    mirror = Mirror(ws, tmp_path / "mirror", report=lambda _line: None)
    await mirror.initial_sync()
    try:
        os.rename(tmp_path / "mirror/src", tmp_path / "mirror/lib")
        await mirror.settle_local({"src"})  # the batch that says only "src is gone"
        assert ws.trash() == []
        assert {p: ws.file_id(p) for p in ws.paths()} == {"lib" + p[3:]: fid for p, fid in ids.items()}
    finally:
        mirror._let_go()


async def test_a_file_deleted_here_that_the_session_edited_meanwhile_comes_back(tmp_path: Path) -> None:
    doc: pycrdt.Doc[Any] = pycrdt.Doc()
    ws = Workspace(doc, user="ada")
    ws.migrate()
    ws.write("a.py", HELPERS)
    lines: list[str] = []
    mirror = Mirror(ws, tmp_path / "mirror", report=lines.append)
    await mirror.initial_sync()
    try:
        (tmp_path / "mirror/a.py").unlink()
        ws.write("a.py", HELPERS + "# ada, at the same moment\n")  # not yet written to disk
        await mirror.flush()  # the edit does not bring the file back under the mirror's feet...
        assert not (tmp_path / "mirror/a.py").exists()
        await mirror.settle_local({"a.py"})  # ...the delete does not win over it either
        assert read(tmp_path / "mirror/a.py") == HELPERS + "# ada, at the same moment\n"
        assert ws.trash() == [] and "a.py was deleted here but edited in the session meanwhile: it is back, with that edit" in lines
    finally:
        mirror._let_go()
