"""A .gitignore is a file of the session that anyone may edit: a pushed ``*`` must not silently stop a
teammate's sync both ways. Files already shared keep syncing, new session files still arrive, and a
new local file it matches stays on the teammate's machine with one line that says so. A private
local file that the teammate's own .gitignore covers (a .env) is never written over nor sent."""

from __future__ import annotations

from pathlib import Path

import pycrdt

from tests.client.join_process import JoinProcess
from tests.client.support import SchemaFiles
from tests.support.hub_process import HubProcess
from tests.support.waiting import eventually
from tests.support.yclient import pycrdt_client


def read(path: Path) -> str | None:
    try:
        return path.read_text()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


def text(files: SchemaFiles, key: str) -> str | None:
    value = files.get(key)
    return str(value) if isinstance(value, pycrdt.Text) else None


async def test_a_pushed_gitignore_of_everything_does_not_stop_a_teammates_sync(hub: HubProcess, tmp_path: Path) -> None:
    room = "ignore-all-room"
    folder = tmp_path / "V"
    async with pycrdt_client(f"{hub.ws_url}/ws/{room}") as doc:
        files = SchemaFiles(doc)
        with doc.transaction():
            files["src/app.py"] = "x = 1\n"
            files["notes.txt"] = "notes\n"
        join = JoinProcess(f"{hub.url}/s/{room}", folder, "victim").start()
        try:
            await eventually(lambda: read(folder / "notes.txt") == "notes\n")
            files[".gitignore"] = "*\n"
            await eventually(lambda: read(folder / ".gitignore") == "*\n")

            # Remote edits of shared files, and new session files, still arrive.
            app = files["src/app.py"]
            assert isinstance(app, pycrdt.Text)
            app += "y = 2\n"
            files["docs/new.md"] = "from the session\n"
            await eventually(lambda: read(folder / "src/app.py") == "x = 1\ny = 2\n", what="a remote edit")
            await eventually(lambda: read(folder / "docs/new.md") == "from the session\n", what="a new session file")

            # Local edits and deletes of shared files still leave.
            (folder / "notes.txt").write_text("notes edited here\n")
            await eventually(lambda: text(files, "notes.txt") == "notes edited here\n", what="a local edit")
            (folder / "docs/new.md").unlink()
            await eventually(lambda: "docs/new.md" not in files, what="a local delete")

            # A new local file stays here, and the teammate is told, once.
            (folder / "mine.py").write_text("print('mine')\n")
            (folder / "mine2.py").write_text("print('mine too')\n")
            await eventually(lambda: "not shared: mine" in join.output(), what="the line about new files")
            (folder / "notes.txt").write_text("notes edited again\n")
            await eventually(lambda: text(files, "notes.txt") == "notes edited again\n")
            assert "mine.py" not in files and "mine2.py" not in files
            assert join.output().count("not shared:") == 1, join.output()
            assert "edit that .gitignore" in join.output()
        finally:
            assert join.stop() == 0, join.output()


async def test_a_private_file_of_ones_own_gitignore_is_neither_overwritten_nor_sent(hub: HubProcess, tmp_path: Path) -> None:
    room = "private-room"
    folder = tmp_path / "V"
    folder.mkdir()
    (folder / ".gitignore").write_text(".env\n")
    (folder / ".env").write_text("SECRET=mine\n")
    async with pycrdt_client(f"{hub.ws_url}/ws/{room}") as doc:
        files = SchemaFiles(doc)
        files[".env"] = "SECRET=theirs\n"
        join = JoinProcess(f"{hub.url}/s/{room}", folder, "victim").start()
        try:
            await eventually(lambda: text(files, ".gitignore") == ".env\n")
            (folder / ".env").write_text("SECRET=mine, edited\n")
            (folder / "marker.txt").write_text("after\n")
            await eventually(lambda: text(files, "marker.txt") == "after\n")
            assert read(folder / ".env") == "SECRET=mine, edited\n"
            assert text(files, ".env") == "SECRET=theirs\n"
            assert "not written: .env is ignored here by .gitignore and you have your own" in join.output()
        finally:
            assert join.stop() == 0, join.output()
