"""Finding 9: a file/folder clash (``a`` and ``a/b``, which also happens by accident) or an entry in
``fs`` that is no file (no ``Y.Map``, no string path, no ``Y.Text``), written by a participant straight
into the shared document, does not stop `collab join`: a clash is skipped with one line, an entry that
is no file is left as it is (docs/workspace.md), everything else keeps syncing both ways, and a fresh
join of the room starts."""

from __future__ import annotations

from pathlib import Path

import pycrdt

from collab.workspace import Workspace
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


async def stored(ws_url: str, key: str) -> bool:
    """The hub has the file ``key``: a client that connects now gets it in its first sync."""
    async with pycrdt_client(ws_url) as probe:
        return key in Workspace(probe).paths()


async def test_clashes_and_entries_that_are_no_file_are_skipped_and_the_rest_syncs(hub: HubProcess, tmp_path: Path) -> None:
    room = "clash-room"
    link = f"{hub.url}/s/{room}"
    a, b = tmp_path / "A", tmp_path / "B"
    async with pycrdt_client(f"{hub.ws_url}/ws/{room}") as doc:
        files = SchemaFiles(doc)
        fs = doc.get("fs", type=pycrdt.Map)
        with doc.transaction():
            files["a"] = "a file\n"
            files["a/b"] = "a file in a folder a\n"
            fs["number"] = 42
            fs["table"] = pycrdt.Map({"path": "table", "text": pycrdt.Map({"k": "v"})})
            fs["plain"] = pycrdt.Map({"path": "plain", "text": "a str, not a Y.Text"})
            fs["nopath"] = pycrdt.Map({"path": 7, "text": pycrdt.Text("x")})
            files["ok.txt"] = "one\n"
        await eventually(lambda: stored(f"{hub.ws_url}/ws/{room}", "ok.txt"), what="the hub has the entries")
        ja = JoinProcess(link, a, "ann").start()  # the old code exits 1 here
        try:
            assert read(a / "ok.txt") == "one\n" and read(a / "a") == "a file\n"
            assert not (a / "table").exists() and not (a / "plain").exists() and not (a / "7").exists()

            # While mirroring: another clash, another odd entry, then ordinary edits.
            with doc.transaction():
                files["c/d.txt"] = "in c\n"
            await eventually(lambda: read(a / "c/d.txt") == "in c\n")
            with doc.transaction():
                files["c"] = "a file c, where the folder c is\n"
                fs["later"] = pycrdt.Array([1, 2, 3])
                fs["table"]["text"]["k2"] = "v2"
            ok = files["ok.txt"]
            ok += "two\n"
            await eventually(lambda: read(a / "ok.txt") == "one\ntwo\n", what="a remote edit after the clash")

            # Local edits still travel.
            (a / "ok.txt").write_text("one\ntwo\nthree\n")
            await eventually(lambda: str(files["ok.txt"]) == "one\ntwo\nthree\n", what="a local edit")

            out = ja.output()
            for key in ("a/b", "c"):
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
        # What was no file is still in the session, as it was.
        assert fs["number"] == 42 and fs["plain"]["text"] == "a str, not a Y.Text"
        assert dict(fs["table"]["text"]) == {"k": "v", "k2": "v2"} and list(fs["later"]) == [1, 2, 3]
