"""Three clients edit, create, rename, move and delete files at random, going offline and back:
they converge, and every edit made to a file that still exists or is in the trash is in it."""

from __future__ import annotations

import asyncio
import collections
import random

import pytest

from collab.workspace import WorkspaceError
from tests.client.workspace_clients import Client, clients, converged
from tests.support.hub_process import HubProcess

FOLDERS = ("", "src/", "src/app/", "docs/")
NAMES = ("a.py", "b.py", "notes.md", "c.txt")


def random_path(rng: random.Random) -> str:
    return rng.choice(FOLDERS) + rng.choice(NAMES)


def step(rng: random.Random, c: Client, serial: int, typed: list[tuple[str, str]]) -> str:
    """One random operation by ``c``; every edit is a whole line ``<client>-<serial>`` inserted at
    a line start, so no later edit can cut it, and is recorded with the id of its file."""
    paths = c.ws.paths()
    op = rng.choice(["edit", "edit", "edit", "create", "rename", "move", "delete", "restore"]) if paths else "create"
    try:
        if op == "create":
            file_id = c.ws.create(random_path(rng), f"{c.name}-{serial}\n")
            typed.append((file_id, f"{c.name}-{serial}\n"))
        elif op == "edit":
            path = rng.choice(paths)
            text = c.ws.text(path)
            content = str(text)
            starts = [0] + [i + 1 for i, ch in enumerate(content) if ch == "\n"]
            line = f"{c.name}-{serial}\n"
            at = rng.choice(starts)
            text.insert(len(content[:at].encode()), line)  # pycrdt counts UTF-8 bytes
            edited = c.ws.file_id(path)
            assert edited is not None
            typed.append((edited, line))
        elif op == "rename":
            path = rng.choice(paths)
            folder = path.rpartition("/")[0]
            c.ws.rename(path, (folder + "/" if folder else "") + rng.choice(NAMES))
        elif op == "move":
            c.ws.rename(rng.choice(paths), random_path(rng))
        elif op == "delete":
            assert c.ws.delete(rng.choice(paths))
        elif op == "restore" and c.ws.trash():
            c.ws.restore(rng.choice(c.ws.trash()).id)
    except WorkspaceError as exc:
        assert "already exists" in str(exc)  # a rename onto a taken path is refused, nothing else
    return op


@pytest.mark.parametrize("seed", [1, 2])
async def test_three_clients_at_random_converge_and_lose_no_edit(hub: HubProcess, seed: int) -> None:
    rng = random.Random(seed)
    typed: list[tuple[str, str]] = []
    done: collections.Counter[str] = collections.Counter()
    async with clients(f"{hub.url}/s/random-{seed}", "ada", "bob", "cy") as everyone:
        for serial in range(300):
            c = rng.choice(everyone)
            if rng.random() < 0.08:
                await (c.offline() if c.session is not None else c.online())
            done[step(rng, c, serial, typed)] += 1
            if rng.random() < 0.2:
                await asyncio.sleep(rng.random() * 0.05)  # let some edits cross, others not
        for c in everyone:
            if c.session is None:
                await c.online()
        files, trash = await converged(*everyone, timeout=30)
        ws = everyone[0].ws
        # The run did what it is about (whether a deleted file is still in the trash at the end
        # depends on which edits and renames crossed its delete: they bring it back).
        assert len(typed) > 100 and done["delete"] > 10 and done["rename"] + done["move"] > 20 and len(files) > 3
        for file_id, line in typed:
            text = ws.table.text_of(file_id)
            assert text is not None, f"file {file_id} is gone"
            assert line in str(text), f"{line!r} lost from {file_id}"
            assert ws.path_of(file_id) is not None or any(e.id == file_id for e in ws.trash())
        # Every client shows every file, alive or trashed, under one name: none lost, none doubled.
        assert len(files) + len(trash) == len(ws.table.fs)
