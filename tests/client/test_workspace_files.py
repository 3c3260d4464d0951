"""Schema 2 against a real hub: a file's edits survive renames, moves, deletes and same-path creation.

Each test ends with every client holding the same files and trash, with every edit.
"""

from __future__ import annotations

import pytest

from collab.ai import suggestions
from collab.workspace import WorkspaceError
from collab.workspace_files import conflict_name
from tests.client.workspace_clients import clients, converged
from tests.support.hub_process import HubProcess
from tests.support.waiting import eventually


async def test_an_offline_edit_survives_a_rename(hub: HubProcess) -> None:
    async with clients(f"{hub.url}/s/offline-rename", "ada", "bob") as (ada, bob):
        ada.ws.write("src/app/helpers.py", "def helper():\n    return 1\n")
        await converged(ada, bob)
        await bob.offline()
        bob.ws.write("src/app/helpers.py", "def helper():\n    return 2  # bob, offline\n")
        ada.ws.rename("src/app/helpers.py", "src/app/tools.py")
        await bob.online()
        files, trash = await converged(ada, bob)
        assert files == {"src/app/tools.py": "def helper():\n    return 2  # bob, offline\n"}
        assert trash == []


async def test_an_edit_during_a_folder_rename_lands_in_the_moved_file(hub: HubProcess) -> None:
    async with clients(f"{hub.url}/s/folder-rename", "ada", "bob") as (ada, bob):
        ada.ws.write("lib/a.py", "a = 1\n")
        ada.ws.write("lib/sub/b.py", "b = 1\n")
        ada.ws.write("library.txt", "not in the folder\n")
        await converged(ada, bob)
        await bob.offline()
        bob.ws.write("lib/sub/b.py", "b = 2\n")
        assert ada.ws.rename_folder("lib", "pkg/core") == ["pkg/core/a.py", "pkg/core/sub/b.py"]
        await bob.online()
        files, _ = await converged(ada, bob)
        assert files == {"pkg/core/a.py": "a = 1\n", "pkg/core/sub/b.py": "b = 2\n", "library.txt": "not in the folder\n"}


async def test_a_rename_concurrent_with_a_delete_keeps_the_file(hub: HubProcess) -> None:
    async with clients(f"{hub.url}/s/rename-delete", "ada", "bob") as (ada, bob):
        ada.ws.write("notes.md", "keep me\n")
        ada.ws.write("draft.md", "edit me\n")
        await converged(ada, bob)
        await bob.offline()
        assert bob.ws.delete("notes.md") and bob.ws.delete("draft.md")
        ada.ws.rename("notes.md", "docs/notes.md")
        ada.ws.write("draft.md", "edit me, edited\n")
        await bob.online()
        files, trash = await converged(ada, bob)
        # Edits win over deletes: the renamed file and the edited one are back for everyone.
        assert files == {"docs/notes.md": "keep me\n", "draft.md": "edit me, edited\n"}
        assert trash == []


async def test_two_files_created_at_one_path_both_survive(hub: HubProcess) -> None:
    async with clients(f"{hub.url}/s/same-path", "ada", "bob") as (ada, bob):
        await bob.offline()
        ada_id = ada.ws.create("todo.md", "ada's list\n")
        bob_id = bob.ws.create("todo.md", "bob's list\n")
        await bob.online()
        files, _ = await converged(ada, bob)
        kept, renamed = sorted([(ada_id, "ada's list\n"), (bob_id, "bob's list\n")])
        loser = conflict_name("todo.md", renamed[0][:8])
        assert loser == f"todo (conflict {renamed[0][:8]}).md"
        assert files == {"todo.md": kept[1], loser: renamed[1]}
        # The conflict copy is a file like any other: renaming it settles the name for everyone.
        bob.ws.rename(loser, "todo-2.md")
        files, _ = await converged(ada, bob)
        assert files == {"todo.md": kept[1], "todo-2.md": renamed[1]}


async def test_a_rename_onto_a_path_created_meanwhile_keeps_both(hub: HubProcess) -> None:
    async with clients(f"{hub.url}/s/rename-onto", "ada", "bob") as (ada, bob):
        ada.ws.write("old.py", "old = 1\n")
        await converged(ada, bob)
        await bob.offline()
        ada.ws.rename("old.py", "new.py")
        bob.ws.write("new.py", "fresh = 1\n")
        await bob.online()
        files, _ = await converged(ada, bob)
        assert sorted(files.values()) == ["fresh = 1\n", "old = 1\n"]
        assert "new.py" in files and len(files) == 2


async def test_two_concurrent_renames_converge_to_one_path(hub: HubProcess) -> None:
    async with clients(f"{hub.url}/s/two-renames", "ada", "bob", "cy") as (ada, bob, cy):
        ada.ws.write("x.py", "x = 1\n")
        await converged(ada, bob, cy)
        await bob.offline()
        await cy.offline()
        bob.ws.rename("x.py", "by_bob.py")
        cy.ws.rename("x.py", "by_cy.py")
        cy.ws.write("by_cy.py", "x = 1\ny = 2\n")
        await bob.online()
        await cy.online()
        files, _ = await converged(ada, bob, cy)
        # Last writer wins on the path (one of the two, the same for all); the text has cy's edit.
        assert list(files.values()) == ["x = 1\ny = 2\n"]
        assert list(files) in (["by_bob.py"], ["by_cy.py"])


async def test_a_deleted_file_is_in_everyones_trash_and_anyone_restores_it(hub: HubProcess) -> None:
    async with clients(f"{hub.url}/s/trash", "ada", "bob") as (ada, bob):
        file_id = ada.ws.create("main.py", "print('hi')\n")
        await converged(ada, bob)
        assert ada.ws.delete("main.py")
        files, trash = await converged(ada, bob)
        assert files == {} and trash == [(file_id, "main.py")]
        (entry,) = bob.trashed()
        assert entry.by == "ada" and entry.ts > 0
        # Someone creates main.py again meanwhile: the restored file comes back beside it.
        bob.ws.write("main.py", "print('new')\n")
        where = bob.ws.restore(file_id)
        assert where == conflict_name("main.py", file_id[:8]) or where == "main.py"
        files, trash = await converged(ada, bob)
        assert sorted(files.values()) == ["print('hi')\n", "print('new')\n"] and trash == []
        # Restored under another name on request; the trash can be emptied for good.
        ada.ws.delete(where)
        await converged(ada, bob)
        assert bob.ws.restore(file_id, "restored.py") == "restored.py"
        files, _ = await converged(ada, bob)
        assert files["restored.py"] == "print('hi')\n"
        ada.ws.delete("restored.py")
        await converged(ada, bob)
        assert bob.ws.empty_trash() == 1
        files, trash = await converged(ada, bob)
        assert trash == [] and "restored.py" not in files
        with pytest.raises(WorkspaceError):
            ada.ws.restore(file_id)


async def test_undo_of_a_delete_brings_the_same_file_back_for_everyone(hub: HubProcess) -> None:
    async with clients(f"{hub.url}/s/undo-delete", "ada", "bob") as (ada, bob):
        file_id = ada.ws.create("main.py", "print('hi')\n")
        await converged(ada, bob)
        assert ada.ws.delete("main.py") == file_id  # what undo needs
        await converged(ada, bob)
        assert "main.py" not in bob.ws
        assert ada.ws.restore(file_id) == "main.py"
        files, trash = await converged(ada, bob)
        assert files == {"main.py": "print('hi')\n"} and trash == [] and bob.ws.file_id("main.py") == file_id
        assert ada.ws.delete("nothing.py") is None


async def test_a_suggestion_follows_its_file_through_a_rename(hub: HubProcess) -> None:
    async with clients(f"{hub.url}/s/suggestion-rename", "ada", "bob") as (ada, bob):
        ada.ws.write("geo.py", "def area(r):\n    return 3.14 * r * r\n")
        sid = ada.ws.create_suggestion("geo.py", 13, model="m", requested_by="ada")
        await converged(ada, bob)
        ada.ws.rename("geo.py", "shapes/geo.py")
        await converged(ada, bob)
        bob.ws.text("shapes/geo.py").insert(0, "import math\n")
        await converged(ada, bob)
        assert ada.ws.suggestion(sid).file == "shapes/geo.py"
        assert ada.ws.anchor_index(sid) == bob.ws.anchor_index(sid) == 13 + len("import math\n")
        # Accepted after the rename, it goes into the renamed file at its anchor.
        ada.ws.update_suggestion(sid, status="ready", append="    # r is the radius\n")
        await eventually(lambda: bob.ws.suggestion(sid).status == "ready")
        suggestions.accept(bob.ws, sid, "bob")
        files, _ = await converged(ada, bob)
        assert files == {"shapes/geo.py": "import math\ndef area(r):\n    # r is the radius\n    return 3.14 * r * r\n"}


async def test_the_room_setting_empties_what_has_been_in_the_trash_too_long(hub: HubProcess) -> None:
    async with clients(f"{hub.url}/s/trash-days", "ada", "bob") as (ada, bob):
        ada.ws.write("old.txt", "old\n")
        ada.ws.write("new.txt", "new\n")
        ada.ws.delete("old.txt")
        ada.ws.delete("new.txt")
        await converged(ada, bob)
        assert bob.ws.expire_trash() == 0  # unset: the trash keeps everything
        ada.ws.settings["trash_days"] = 1
        await eventually(lambda: bob.ws.settings.get("trash_days") == 1)
        new, old = bob.ws.trash()
        # A day after a moment between the two deletes: only the older one has been there a day.
        assert bob.ws.expire_trash(now=(old.ts + new.ts) / 2 + 86400) == 1
        _, trash = await converged(ada, bob)
        assert [path for _, path in trash] == ["new.txt"]
