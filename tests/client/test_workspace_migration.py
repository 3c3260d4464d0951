"""A room written by the release before schema 2 is migrated in place, once, by the first client.

The room is the update in tests/vectors/workspace_schema1.json, made by that release's
collab/workspace.py: three files (one renamed, one edited), a ready suggestion, a chat message.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from pathlib import Path
from typing import Any

import pycrdt
import pytest

from collab.client.session import Session, UpgradeRequired
from collab.commands.new import create_encrypted_room
from collab.crypto.links import read_link, write_link
from collab.workspace import Workspace, WorkspaceError
from collab.workspace_files import FS, UPGRADE_NOTICE_PATH
from tests.e2ee.support import joined
from tests.support.hub_process import HubProcess
from tests.support.waiting import eventually
from tests.support.yclient import pycrdt_client

VECTOR = json.loads((Path(__file__).parent.parent / "vectors" / "workspace_schema1.json").read_text())
FILES: dict[str, str] = VECTOR["files"]


def schema1_update() -> bytes:
    return base64.b64decode(VECTOR["update"])


def assert_migrated(ws: Workspace) -> None:
    """Every file with its text (not doubled), the suggestion still at its character, the chat kept."""
    assert ws.schema == 2
    assert ws.snapshot() == FILES
    assert len(ws.table.fs) == len(FILES)  # one entry per file, whoever migrated
    (suggestion,) = list(ws.iter_suggestions())
    wanted = VECTOR["suggestion"]
    assert (suggestion.file, suggestion.status, suggestion.text) == (wanted["file"], wanted["status"], wanted["text"])
    assert ws.anchor_index(suggestion.id) == wanted["index"]
    assert [m.text for m in ws.messages()] == ["hello"]


async def hub_has_schema1_room(ws_url: str) -> None:
    """Until a client that connects now gets the old client's files in its first sync (else it
    would open, and migrate, an empty room)."""

    async def stored() -> bool:
        async with pycrdt_client(ws_url) as probe:
            return sorted(probe.get("files", type=pycrdt.Map).keys()) == sorted(FILES)

    await eventually(stored, what="the hub has the schema-1 room")


def legacy_keys(doc: pycrdt.Doc[Any]) -> list[str]:
    return sorted(doc.get("files", type=pycrdt.Map).keys())


async def test_a_plaintext_room_of_the_previous_schema_is_migrated_once(hub: HubProcess) -> None:
    link = f"{hub.url}/s/schema1-room"
    async with pycrdt_client(f"{hub.ws_url}/ws/schema1-room") as old:
        old.apply_update(schema1_update())
        await hub_has_schema1_room(f"{hub.ws_url}/ws/schema1-room")
        async with Session.connect(link, name="ada") as ada:
            # Opening the room migrated it, as the page does: nothing to call.
            assert_migrated(ada.workspace)
            assert not ada.migrate() and not ada.workspace.migrate()  # once
            # A client of the previous release finds the notice beside its files.
            await eventually(lambda: UPGRADE_NOTICE_PATH in legacy_keys(old), what="old client sees the notice")
            notice = str(old.get("files", type=pycrdt.Map)[UPGRADE_NOTICE_PATH])
            assert "Upgrade collab" in notice
            assert legacy_keys(old) == sorted([*FILES, UPGRADE_NOTICE_PATH])
            async with Session.connect(link, name="bob") as bob:
                assert_migrated(bob.workspace)
                assert not bob.migrate()
                # The migrated files are files like any other: renamed, the suggestion follows.
                bob.workspace.rename("src/app/helpers.py", "src/app/tools.py")
                await eventually(lambda: "src/app/tools.py" in ada.workspace)
                (suggestion,) = list(ada.workspace.iter_suggestions())
                assert suggestion.file == "src/app/tools.py"
                assert ada.workspace.anchor_index(suggestion.id) == VECTOR["suggestion"]["index"]
                assert ada.workspace.read("README.md") == FILES["README.md"]


async def test_an_old_clients_edit_after_or_during_the_migration_reaches_every_schema2_client(hub: HubProcess) -> None:
    room = "schema1-late-edit"
    link = f"{hub.url}/s/{room}"
    async with pycrdt_client(f"{hub.ws_url}/ws/{room}") as old, pycrdt_client(f"{hub.ws_url}/ws/{room}") as slow:
        old.apply_update(schema1_update())
        await hub_has_schema1_room(f"{hub.ws_url}/ws/{room}")
        await eventually(lambda: sorted(slow.get("files", type=pycrdt.Map).keys()) == sorted(FILES))
        # In flight under the old schema: made from what the migrator copies, sent only after it migrated.
        offline: pycrdt.Doc[Any] = pycrdt.Doc()
        offline.apply_update(slow.get_update())
        before = offline.get_state()
        offline.get("files", type=pycrdt.Map)["src/cli.py"].insert(0, "# in flight\n")
        async with Session.connect(link, name="ada") as ada, Session.connect(link, name="bob") as bob:
            assert ada.workspace.schema == 2
            slow.apply_update(offline.get_update(before))
            await eventually(lambda: old.get("meta", type=pycrdt.Map).get("schema") == 2)
            # A schema-2 edit, then an older client edits the text it still sees: both are kept.
            bob.workspace.text("README.md").insert(len(FILES["README.md"]), "bob too\n")
            await eventually(lambda: ada.workspace.read("README.md").endswith("bob too\n"))
            old.get("files", type=pycrdt.Map)["README.md"].insert(0, "old client was here\n")
            want = {
                "README.md": "old client was here\n" + FILES["README.md"] + "bob too\n",
                "src/cli.py": "# in flight\n" + FILES["src/cli.py"],
            }
            for s in (ada, bob):
                for path, text in want.items():
                    await eventually(lambda s=s, path=path, text=text: s.workspace.read(path) == text, what=f"{path} carried to {s.name}")
            await ada.wait_idle()
            await bob.wait_idle()
            # Carried once, though both writers saw the change.
            async with Session.connect(link, name="late") as late:
                await eventually(lambda: all(late.workspace.read(p) == t for p, t in want.items()))
                assert len(late.workspace.table.fs) == len(FILES)


async def test_two_clients_opening_the_room_at_once_make_one_copy_of_each_file(hub: HubProcess) -> None:
    link = f"{hub.url}/s/schema1-race"
    async with pycrdt_client(f"{hub.ws_url}/ws/schema1-race") as old:
        old.apply_update(schema1_update())
        await hub_has_schema1_room(f"{hub.ws_url}/ws/schema1-race")
        async with contextlib.AsyncExitStack() as a, contextlib.AsyncExitStack() as b:
            # Both connect (and so migrate) at the same moment, before either hears of the other's migration.
            ada, bob = await asyncio.gather(
                a.enter_async_context(Session.connect(link, name="ada")),
                b.enter_async_context(Session.connect(link, name="bob")),
            )
            await ada.wait_idle()
            await bob.wait_idle()
            for s in (ada, bob):
                await eventually(lambda s=s: len(s.workspace.table.fs) == len(FILES) and s.workspace.snapshot() == FILES)
                assert_migrated(s.workspace)
            ada.workspace.write("README.md", FILES["README.md"] + "after\n")
            await eventually(lambda: bob.workspace.read("README.md").endswith("edited by a second hand\nafter\n"))


async def test_an_encrypted_room_of_the_previous_schema_is_migrated(hub: HubProcess) -> None:
    keys = create_encrypted_room(hub.url)
    async with joined(hub, keys) as old:
        old.doc.apply_update(schema1_update())
        await old.flush()
        async with Session.connect(read_link(hub.url, keys), name="reader") as reader:
            # A reader cannot migrate; it reads the schema-1 room as it is.
            await eventually(lambda: reader.workspace.snapshot() == FILES)
            assert reader.workspace.schema == 1 and not reader.migrate()
            async with Session.connect(write_link(hub.url, keys), name="ada") as ada:
                assert_migrated(ada.workspace)  # on opening
                await ada.wait_idle()
                await eventually(lambda: reader.workspace.schema == 2)
                assert_migrated(reader.workspace)
                await eventually(lambda: UPGRADE_NOTICE_PATH in legacy_keys(old.doc))
        # A client that joins later reads schema 2 from the hub's (encrypted) history.
        async with Session.connect(write_link(hub.url, keys), name="late") as late:
            await eventually(lambda: late.workspace.schema == 2)
            assert_migrated(late.workspace)
            assert not late.migrate()


def test_a_room_of_a_later_schema_is_refused_not_written() -> None:
    doc: pycrdt.Doc[Any] = pycrdt.Doc()
    doc.get("meta", type=pycrdt.Map)["schema"] = 3
    ws = Workspace(doc)
    for attempt in (ws.paths, lambda: ws.write("a.py", "x"), ws.migrate):
        with pytest.raises(WorkspaceError, match="upgrade collab"):
            attempt()
    assert len(doc.get(FS, type=pycrdt.Map)) == 0


def test_an_edit_made_right_after_migrating_survives_a_concurrent_migration() -> None:
    a: pycrdt.Doc[Any] = pycrdt.Doc()
    b: pycrdt.Doc[Any] = pycrdt.Doc()
    for doc in (a, b):
        doc.apply_update(schema1_update())
    ada, bob = Workspace(a), Workspace(b)
    assert ada.migrate()
    ada.text("README.md").insert(0, "ada was here\n")
    assert bob.migrate()
    bob.text("src/cli.py").insert(0, "# bob was here\n")
    a.apply_update(b.get_update(a.get_state()))
    b.apply_update(a.get_update(b.get_state()))
    # Both made the same migration update, so each edit is in the one copy of its file: a file
    # entry written twice under one key would keep one of the two copies and lose the other's edit.
    for ws in (ada, bob):
        assert ws.read("README.md") == "ada was here\n" + FILES["README.md"]
        assert ws.read("src/cli.py") == "# bob was here\n" + FILES["src/cli.py"]
        assert len(ws.table.fs) == len(FILES)


def test_two_writers_carrying_the_same_legacy_edit_at_once_write_it_once() -> None:
    docs: list[pycrdt.Doc[Any]] = [pycrdt.Doc() for _ in range(3)]
    for doc in docs:
        doc.apply_update(schema1_update())
    old, a, b = docs
    ada, bob = Workspace(a), Workspace(b)
    assert ada.migrate() and bob.migrate()
    a.apply_update(b.get_update(a.get_state()))
    b.apply_update(a.get_update(b.get_state()))
    before = old.get_state()
    old.get("files", type=pycrdt.Map)["README.md"].insert(0, "legacy\n")
    for doc in (a, b):
        doc.apply_update(old.get_update(before))
    assert ada.carry_legacy() == 1 and bob.carry_legacy() == 1  # each before hearing of the other's
    a.apply_update(b.get_update(a.get_state()))
    b.apply_update(a.get_update(b.get_state()))
    for ws in (ada, bob):
        assert ws.read("README.md") == "legacy\n" + FILES["README.md"]
        assert ws.carry_legacy() == 0  # already carried


def test_a_schema1_edit_one_migrator_had_and_the_other_not_is_kept() -> None:
    a: pycrdt.Doc[Any] = pycrdt.Doc()
    b: pycrdt.Doc[Any] = pycrdt.Doc()
    for doc in (a, b):
        doc.apply_update(schema1_update())
    b.get("files", type=pycrdt.Map)["README.md"].insert(0, "unsynced\n")  # an older client's, not yet at a
    ada, bob = Workspace(a), Workspace(b)
    assert ada.migrate() and bob.migrate()
    a.apply_update(b.get_update(a.get_state()))
    b.apply_update(a.get_update(b.get_state()))
    for ws in (ada, bob):  # whichever copy Yjs kept, the edit is there (carried if need be)
        ws.carry_legacy()
        a.apply_update(b.get_update(a.get_state()))
        b.apply_update(a.get_update(b.get_state()))
    for ws in (ada, bob):
        assert ws.read("README.md") == "unsynced\n" + FILES["README.md"]
        assert len(ws.table.fs) == len(FILES)


async def test_a_python_client_meeting_a_later_schema_says_to_upgrade_and_writes_nothing(hub: HubProcess, tmp_path: Path) -> None:
    import subprocess
    import sys

    link = f"{hub.url}/s/schema3-room"
    async with pycrdt_client(f"{hub.ws_url}/ws/schema3-room") as future:
        with future.transaction():
            future.get("meta", type=pycrdt.Map)["schema"] = 3
            future.get(FS, type=pycrdt.Map)["f1"] = pycrdt.Map({"path": "a.py", "text": pycrdt.Text("x\n")})
        state = future.get_state()

        async def stored() -> bool:
            async with pycrdt_client(f"{hub.ws_url}/ws/schema3-room") as probe:
                return probe.get("meta", type=pycrdt.Map).get("schema") == 3

        await eventually(stored, what="the hub has the schema-3 room")
        with pytest.raises(UpgradeRequired, match="schema 3.*upgrade collab"):
            async with Session.connect(link, name="ada"):
                pass
        folder = tmp_path / "mirror"
        folder.mkdir()
        (folder / "mine.py").write_text("mine\n")
        join = subprocess.run([sys.executable, "-m", "collab.cli", "join", link, "--dir", str(folder), "--name", "joe"],
                              capture_output=True, text=True, timeout=60)
        assert join.returncode == 1, join.stderr
        assert "uses workspace schema 3" in join.stderr and "upgrade collab" in join.stderr
        assert "Traceback" not in join.stderr
        assert sorted(p.name for p in folder.iterdir() if p.name != ".collab") == ["mine.py"]  # no file written here
        assert future.get_state() == state  # nor there
