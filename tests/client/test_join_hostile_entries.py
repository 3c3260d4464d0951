"""Finding 9: a file/folder clash (``a`` and ``a/b``, which also happens by accident) or a value in
``files`` that is no text, written by a participant straight into the shared map, does not stop
`collab join`: that entry is skipped with one line, everything else keeps syncing both ways, and a
fresh join of the room starts."""

from __future__ import annotations

from pathlib import Path

import pycrdt

from tests.client.join_process import JoinProcess
from tests.support.hub_process import HubProcess
from tests.support.waiting import eventually
from tests.support.yclient import pycrdt_client


def read(path: Path) -> str | None:
    try:
        return path.read_text()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


async def stored(ws_url: str, key: str) -> bool:
    """The hub has ``key``: a client that connects now gets it in its first sync."""
    async with pycrdt_client(ws_url) as probe:
        return key in probe.get("files", type=pycrdt.Map)


async def test_clashes_and_values_that_are_no_text_are_skipped_and_the_rest_syncs(hub: HubProcess, tmp_path: Path) -> None:
    room = "clash-room"
    link = f"{hub.url}/s/{room}"
    a, b = tmp_path / "A", tmp_path / "B"
    async with pycrdt_client(f"{hub.ws_url}/ws/{room}") as doc:
        files = doc.get("files", type=pycrdt.Map)
        with doc.transaction():
            files["a"] = pycrdt.Text("a file\n")
            files["a/b"] = pycrdt.Text("a file in a folder a\n")
            files["number"] = 42
            files["table"] = pycrdt.Map({"k": "v"})
            files["plain"] = "a str, not a Y.Text"
            files["ok.txt"] = pycrdt.Text("one\n")
        await eventually(lambda: stored(f"{hub.ws_url}/ws/{room}", "ok.txt"), what="the hub has the entries")
        ja = JoinProcess(link, a, "ann").start()  # the old code exits 1 here
        try:
            assert read(a / "ok.txt") == "one\n" and read(a / "a") == "a file\n"
            assert not (a / "number").exists() and not (a / "table").exists()

            # While mirroring: another clash, another odd value, then ordinary edits.
            with doc.transaction():
                files["c/d.txt"] = pycrdt.Text("in c\n")
            await eventually(lambda: read(a / "c/d.txt") == "in c\n")
            with doc.transaction():
                files["c"] = pycrdt.Text("a file c, where the folder c is\n")
                files["later"] = pycrdt.Array([1, 2, 3])
                files["table"]["k2"] = "v2"
            ok = files["ok.txt"]
            assert isinstance(ok, pycrdt.Text)
            ok += "two\n"
            await eventually(lambda: read(a / "ok.txt") == "one\ntwo\n", what="a remote edit after the clash")

            # Local edits still travel, and a local file where the session holds no text is not sent.
            (a / "ok.txt").write_text("one\ntwo\nthree\n")
            (a / "number").write_text("mine\n")
            await eventually(lambda: str(files["ok.txt"]) == "one\ntwo\nthree\n", what="a local edit")

            out = ja.output()
            for key in ("a/b", "c", "number", "table", "plain", "later"):
                assert sum(line.startswith(f"skipped {key}:") for line in out.splitlines()) == 1, out
            assert "Traceback" not in out

            # Resolving the clash in the session brings the blocked file.
            del files["a"]
            await eventually(lambda: read(a / "a/b") == "a file in a folder a\n", what="a/b once a is gone")
        finally:
            assert ja.stop() == 0, ja.output()

        # A fresh join of the room starts and mirrors everything else.
        jb = JoinProcess(link, b, "ben").start()
        try:
            assert read(b / "ok.txt") == "one\ntwo\nthree\n" and read(b / "a/b") == "a file in a folder a\n"
            # A folder that starts empty takes the first of two clashing entries (sorted), and says so.
            assert read(b / "c") == "a file c, where the folder c is\n" and "skipped c/d.txt: c is a file here" in jb.output()
        finally:
            assert jb.stop() == 0, jb.output()
        # What was no text is still in the session, as it was.
        assert files["number"] == 42 and files["plain"] == "a str, not a Y.Text"
        table = files["table"]
        assert isinstance(table, pycrdt.Map) and dict(table) == {"k": "v", "k2": "v2"}
