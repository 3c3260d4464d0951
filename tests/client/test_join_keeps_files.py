"""`collab join` never loses a person's files: skipped files. Real hub, real `collab join` processes, real files."""

from __future__ import annotations

from pathlib import Path

from collab.client.session import Session
from tests.client.join_process import JoinProcess
from tests.client.support import eventually
from tests.support.hub_process import HubProcess


def read(path: Path) -> str | None:
    try:
        return path.read_text()
    except (FileNotFoundError, IsADirectoryError, UnicodeDecodeError):
        return None


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

