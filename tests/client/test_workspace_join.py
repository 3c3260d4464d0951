"""`collab join` in a schema-2 room: files, renames, conflict names and deletes reach the folder."""

from __future__ import annotations

from pathlib import Path

from tests.client.join_process import JoinProcess
from tests.client.workspace_clients import clients, converged
from tests.support.hub_process import HubProcess
from tests.support.waiting import eventually


def read(path: Path) -> str | None:
    try:
        return path.read_text()
    except (FileNotFoundError, IsADirectoryError):
        return None


async def test_a_join_mirrors_a_schema_2_room(hub: HubProcess, tmp_path: Path) -> None:
    link = f"{hub.url}/s/join-v2"
    folder = tmp_path / "mirror"
    async with clients(link, "ada", "bob") as (ada, bob):
        ada.ws.write("src/helpers.py", "def helper():\n    return 1\n")
        await converged(ada, bob)
        join = JoinProcess(link, folder, "joe").start()
        try:
            await eventually(lambda: read(folder / "src/helpers.py") == "def helper():\n    return 1\n", timeout=20)
            # A rename in the session moves the file on disk; an edit on disk lands in the renamed file.
            ada.ws.rename("src/helpers.py", "src/tools.py")
            await eventually(lambda: read(folder / "src/tools.py") is not None and read(folder / "src/helpers.py") is None, timeout=20)
            (folder / "src/tools.py").write_text("def helper():\n    return 2\n")
            await eventually(lambda: bob.ws.snapshot() == {"src/tools.py": "def helper():\n    return 2\n"}, timeout=20)
            # Same-path files show up under their conflict name; a delete removes the file from disk.
            await bob.offline()
            ada.ws.write("todo.md", "ada\n")
            bob.ws.write("todo.md", "bob\n")
            await bob.online()
            files, _ = await converged(ada, bob)
            assert len(files) == 3
            for path, text in files.items():
                await eventually(lambda path=path, text=text: read(folder / path) == text, timeout=20)
            ada.ws.delete("src/tools.py")
            await eventually(lambda: read(folder / "src/tools.py") is None, timeout=20)
            await eventually(lambda: [e.path for e in bob.ws.trash()] == ["src/tools.py"])
            await eventually(lambda: "src/tools.py: moved to the session's trash by ada" in join.output(), timeout=20)
            # Restored in the session: back on disk, with every edit.
            (entry,) = bob.ws.trash()
            bob.ws.restore(entry.id)
            await eventually(lambda: read(folder / "src/tools.py") == "def helper():\n    return 2\n", timeout=20)
            # A file made in the folder is a schema-2 file for everyone.
            (folder / "from_disk.txt").write_text("made on disk\n")
            await eventually(lambda: bob.ws.snapshot().get("from_disk.txt") == "made on disk\n", timeout=20)
            assert bob.ws.file_id("from_disk.txt") is not None
        finally:
            assert join.stop() == 0, join.output()
