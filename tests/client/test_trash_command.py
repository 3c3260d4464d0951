"""`collab trash`: a folder user (no page, no plugin) sees what was deleted and brings it back."""

from __future__ import annotations

from pathlib import Path

from collab.client.session import Session
from collab.crypto import read_link
from collab.crypto.links import parse_link
from tests.client.cli import collab, error_lines
from tests.support.hub_process import HubProcess


def new_link(hub: HubProcess) -> str:
    made = collab("new", "--server", hub.url)
    assert made.returncode == 0, made.stderr
    return made.stdout.split("write link:")[1].split()[0]


async def test_trash_lists_deletes_and_restores_them_for_everyone(hub: HubProcess, tmp_path: Path) -> None:
    link = new_link(hub)
    async with Session.connect(link, name="Ada") as ada:
        ada.workspace.write("src/app.py", "print('kept')\n")
        ada.workspace.write("notes.md", "# notes\n")
        await ada.wait_idle()
        ada.workspace.delete("src/app.py")
        await ada.wait_idle()

    listed = collab("trash", link)
    assert listed.returncode == 0, listed.stderr
    assert len(listed.stdout.splitlines()) == 1, listed.stdout
    assert listed.stdout.startswith("src/app.py\tdeleted by Ada ") and " ago" in listed.stdout

    missing = collab("trash", link, "--restore", "notes.md")
    assert missing.returncode == 1 and error_lines(missing.stderr) == ["collab trash: not in the trash: notes.md"]

    restored = collab("trash", link, "--restore", "src/app.py", "--name", "Bob")
    assert restored.returncode == 0, restored.stderr
    assert restored.stdout.strip() == "restored src/app.py"

    async with Session.connect(link, name="Grace") as grace:
        assert grace.workspace.read("src/app.py") == "print('kept')\n"
        assert grace.workspace.trash() == []
    empty = collab("trash", link)
    assert empty.returncode == 0 and empty.stdout == "" and "the trash is empty" in empty.stderr


async def test_trash_refuses_a_read_only_link_and_empties_for_good(hub: HubProcess) -> None:
    link = new_link(hub)
    async with Session.connect(link, name="Ada") as ada:
        ada.workspace.write("old.txt", "x\n")
        await ada.wait_idle()
        ada.workspace.delete("old.txt")
        await ada.wait_idle()
        parsed = parse_link(link)
        assert parsed.keys is not None
        reader = read_link(parsed.server_base, parsed.keys)
    refused = collab("trash", reader, "--empty")
    assert refused.returncode == 1 and "read-only link" in refused.stderr
    emptied = collab("trash", link, "--empty")
    assert emptied.returncode == 0 and "1 file deleted for good" in emptied.stderr, emptied.stderr
    async with Session.connect(link, name="Grace") as grace:
        assert grace.workspace.trash() == [] and "old.txt" not in grace.workspace.snapshot()
