"""Two `collab join` processes on two folders plus an API client, against a real hub."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import AsyncIterator


from collab.client.session import Session
from tests.client.join_process import JoinProcess
from tests.support.waiting import eventually
from tests.support.hub_process import HubProcess


def read(path: Path) -> str | None:
    try:
        return path.read_text()
    except (FileNotFoundError, IsADirectoryError):
        return None


@contextlib.asynccontextmanager
async def two_folders(hub: HubProcess, tmp_path: Path, room: str) -> AsyncIterator[tuple[Path, Path, Session]]:
    link = f"{hub.url}/s/{room}"
    async with Session.connect(link, name="api") as api:
        api.workspace.write("README.md", "# demo\n")
        api.workspace.write("src/app.py", "def main():\n    return 1\n")
        await api.wait_idle()
        a, b = tmp_path / "A", tmp_path / "B"
        ja, jb = JoinProcess(link, a, "ann").start(), JoinProcess(link, b, "ben").start()
        try:
            yield a, b, api
        finally:
            assert ja.stop() == 0, ja.output()
            assert jb.stop() == 0, jb.output()


async def test_edits_travel_between_folders_and_the_api(hub: HubProcess, tmp_path: Path) -> None:
    async with two_folders(hub, tmp_path, "mirror-room") as (a, b, api):
        assert read(a / "src/app.py") == read(b / "src/app.py") == "def main():\n    return 1\n"

        (a / "src/app.py").write_text("def main():\n    return 2\n")
        await eventually(lambda: read(b / "src/app.py") == "def main():\n    return 2\n", what="A's edit in B")
        await eventually(lambda: api.workspace.read("src/app.py") == "def main():\n    return 2\n")

        (b / "docs").mkdir()
        (b / "docs/new.md").write_text("new file\n")
        await eventually(lambda: read(a / "docs/new.md") == "new file\n", what="B's new file in A")

        os.rename(b / "docs/new.md", b / "docs/renamed.md")
        await eventually(lambda: read(a / "docs/renamed.md") == "new file\n" and not (a / "docs/new.md").exists())
        await eventually(lambda: "docs/new.md" not in api.workspace and "docs/renamed.md" in api.workspace)

        (a / "README.md").unlink()
        await eventually(lambda: not (b / "README.md").exists() and "README.md" not in api.workspace)

        api.workspace.write("from_api.txt", "hello from the API\n")
        await eventually(lambda: read(a / "from_api.txt") == read(b / "from_api.txt") == "hello from the API\n")

        # Skipped, with a message: binaries, build folders, .gitignore'd paths.
        (a / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
        (a / "node_modules").mkdir()
        (a / "node_modules/x.js").write_text("x\n")
        (a / ".gitignore").write_text("*.log\n")
        await eventually(lambda: read(b / ".gitignore") == "*.log\n")
        (a / "debug.log").write_text("noise\n")
        (a / "marker.txt").write_text("after the skipped ones\n")
        await eventually(lambda: read(b / "marker.txt") == "after the skipped ones\n")
        expected = {".gitignore", "docs/renamed.md", "from_api.txt", "marker.txt", "src/app.py"}
        await eventually(lambda: set(api.workspace.paths()) == expected, what="only text files outside ignored paths")

        # Concurrent edits of one file from both folders: both are kept.
        base = "".join(f"line {i}\n" for i in range(10))
        (a / "shared.txt").write_text(base)
        await eventually(lambda: read(b / "shared.txt") == base)
        (a / "shared.txt").write_text(base.replace("line 1\n", "line 1 edited in A\n"))
        (b / "shared.txt").write_text(base.replace("line 8\n", "line 8 edited in B\n"))
        merged = base.replace("line 1\n", "line 1 edited in A\n").replace("line 8\n", "line 8 edited in B\n")
        await eventually(lambda: read(a / "shared.txt") == read(b / "shared.txt") == merged, what="both edits kept")
        await eventually(lambda: api.workspace.read("shared.txt") == merged)


async def test_editor_save_patterns(hub: HubProcess, tmp_path: Path) -> None:
    async with two_folders(hub, tmp_path, "editor-room") as (a, b, api):
        target = a / "src/app.py"

        # Write a temporary file, then rename it over the target (most IDEs, atomic-save editors).
        tmp = a / "src/.app.py.tmp123"
        tmp.write_text("def main():\n    return 'temp+rename'\n")
        os.replace(tmp, target)
        await eventually(lambda: read(b / "src/app.py") == "def main():\n    return 'temp+rename'\n", what="temp+rename")

        # Truncate and write in place (nano, many simple editors).
        with open(target, "r+") as f:
            f.truncate(0)
            f.write("def main():\n    return 'truncate'\n")
        await eventually(lambda: read(b / "src/app.py") == "def main():\n    return 'truncate'\n", what="truncate+write")

        # vim's default: rename the file to file~, write a new file, delete file~.
        backup = a / "src/app.py~"
        os.rename(target, backup)
        target.write_text("def main():\n    return 'vim'\n")
        backup.unlink()
        await eventually(lambda: read(b / "src/app.py") == "def main():\n    return 'vim'\n", what="vim save")
        assert not (b / "src/app.py~").exists()
        await eventually(lambda: api.workspace.read("src/app.py") == "def main():\n    return 'vim'\n")
        assert api.workspace.paths() == ["README.md", "src/app.py"]


async def test_offline_edits_in_both_folders_converge(tmp_path: Path) -> None:
    hub = HubProcess(tmp_path / "data").start()
    port = hub.port
    link = f"{hub.url}/s/offline-mirror"
    a, b = tmp_path / "A", tmp_path / "B"
    a.mkdir()
    (a / "notes.txt").write_text("alpha\nbeta\ngamma\n")
    ja = JoinProcess(link, a, "ann").start()
    jb = None
    try:
        jb = JoinProcess(link, b, "ben").start()
        await eventually(lambda: read(b / "notes.txt") == "alpha\nbeta\ngamma\n")
        hub.terminate()
        (a / "notes.txt").write_text("ALPHA\nbeta\ngamma\n")
        (b / "notes.txt").write_text("alpha\nbeta\ngamma\ndelta\n")
        (b / "offline.txt").write_text("made offline\n")
        hub = HubProcess(tmp_path / "data", port=port).start()
        merged = "ALPHA\nbeta\ngamma\ndelta\n"
        await eventually(lambda: read(a / "notes.txt") == read(b / "notes.txt") == merged, timeout=30, what="merge")
        await eventually(lambda: read(a / "offline.txt") == "made offline\n")
    finally:
        assert ja.stop() == 0, ja.output()
        if jb:
            assert jb.stop() == 0, jb.output()
        hub.stop()
    assert "hub unreachable" in ja.output() and "reconnected" in ja.output()


async def test_encrypted_share_and_join(hub: HubProcess, tmp_path: Path) -> None:
    import subprocess
    import sys

    src = tmp_path / "src"
    src.mkdir()
    (src / "secret.py").write_text("API_TOKEN = 'hub must not see this'\n")
    share = subprocess.run([sys.executable, "-m", "collab.cli", "share", str(src), "--server", hub.url, "--once"],
                           capture_output=True, text=True, timeout=60)
    assert share.returncode == 0, share.stderr
    link = share.stdout.strip()
    assert "#k=" in link
    a, b = tmp_path / "A", tmp_path / "B"
    ja, jb = JoinProcess(link, a, "ann").start(), JoinProcess(link, b, "ben").start()
    try:
        assert read(a / "secret.py") == "API_TOKEN = 'hub must not see this'\n"
        (a / "secret.py").write_text("API_TOKEN = 'still secret'\n")
        await eventually(lambda: read(b / "secret.py") == "API_TOKEN = 'still secret'\n")
    finally:
        assert ja.stop() == 0 and jb.stop() == 0
    stored = b"".join(p.read_bytes() for p in hub.data.rglob("*") if p.is_file())
    assert b"API_TOKEN" not in stored and b"secret.py" not in stored
