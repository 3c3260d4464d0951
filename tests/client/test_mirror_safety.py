"""A hostile participant writes keys straight into the session's ``files`` map (a stock pycrdt client,
as an attacker would) while a teammate's real `collab join` mirrors the room: nothing a VCS or tool
runs or reads as configuration reaches the teammate's folder, nothing is written through a link
out of it, and the refused entries stay in the session untouched."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pycrdt

from tests.client.join_process import JoinProcess
from tests.client.support import SchemaFiles
from tests.support.waiting import eventually
from tests.support.hub_process import HubProcess
from tests.support.yclient import pycrdt_client


def read(path: Path) -> str | None:
    try:
        return path.read_text()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


def on_disk(folder: Path) -> set[str]:
    """Every file and link under ``folder`` but the mirror's own .collab/, whatever its case."""
    found: set[str] = set()
    for dirpath, dirs, files in os.walk(folder):
        rel = Path(dirpath).relative_to(folder)
        if rel.parts[:1] == (".collab",):
            continue
        found.update((rel / name).as_posix() for name in files + [d for d in dirs if (Path(dirpath) / d).is_symlink()])
    return found


def git(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """git as a teammate runs it there, without their own config getting in the way."""
    env = {**os.environ, "HOME": str(folder), "GIT_CONFIG_NOSYSTEM": "1", "GIT_CEILING_DIRECTORIES": str(folder.parent)}
    return subprocess.run(["git", *args], cwd=folder, env=env, capture_output=True, text=True, timeout=30)


def planted(pwned: Path) -> dict[str, str]:
    hook = f"touch {pwned}; false"
    return {
        # Finding 1 as reported: a .git file pointing at a repository whose config runs a command.
        ".git": "gitdir: evilrepo\n",
        "evilrepo/HEAD": "ref: refs/heads/main\n",
        "evilrepo/config": f'[core]\n\tfsmonitor = "{hook}"\n',
        "evilrepo/objects/keep": "",
        "evilrepo/refs/keep": "",
        "sub/.git": "gitdir: ../evilrepo\n",
        "sub/code.py": "x = 1\n",
        # Every spelling a file system may turn into .git or .collab.
        ".GIT/hooks/pre-commit": f"#!/bin/sh\n{hook}\n",
        ".Git/config": f'[core]\n\tfsmonitor = "{hook}"\n',
        ".git./config": "[core]\n",
        ".git /config": "[core]\n",
        ".g\u200cit/config": "[core]\n",
        "GIT~1/config": "[core]\n",
        ".git::$INDEX_ALLOCATION/config": "[core]\n",
        ".COLLAB/state.json": '{"room": "elsewhere"}\n',
        # Other version-control systems.
        ".hg/hgrc": f"[hooks]\npre-status = {hook}\n",
        ".svn/entries": "12\n",
        ".bzr/branch/branch.conf": "x\n",
        "_darcs/prefs/defaults": f"ALL posthook {hook}\n",
        ".jj/repo/config.toml": "x\n",
        # Editor and tool configuration that runs code on opening or entering the folder.
        ".vscode/tasks.json": f'{{"tasks": [{{"command": "{hook}", "runOptions": {{"runOn": "folderOpen"}}}}]}}\n',
        ".vscode/settings.json": '{"python.defaultInterpreterPath": "./evil"}\n',
        ".idea/workspace.xml": "<project/>\n",
        ".envrc": f"{hook}\n",
        "deep/down/.envrc": f"{hook}\n",
        ".nvim.lua": f"os.execute('{hook}')\n",
        ".exrc": f"!{hook}\n",
        ".husky/pre-commit": f"{hook}\n",
        "team.code-workspace": "{}\n",
        # Names Windows turns into devices, streams or other names.
        "CON": "x\n",
        "docs/aux.txt": "x\n",
        "a<b>.txt": "x\n",
        "notes.txt:hidden": "x\n",
        "trailing.": "x\n",
    }


ALLOWED = {"ok.txt", "evilrepo/config", "evilrepo/objects/keep", "evilrepo/refs/keep", "sub/code.py"}


async def test_a_participant_cannot_plant_what_git_or_tools_run(hub: HubProcess, tmp_path: Path) -> None:
    room = "evil-room"
    victim = tmp_path / "V"
    pwned = tmp_path / "PWNED"
    attack = planted(pwned)
    join = JoinProcess(f"{hub.url}/s/{room}", victim, "victim").start()
    try:
        async with pycrdt_client(f"{hub.ws_url}/ws/{room}") as doc:
            files = SchemaFiles(doc)
            with doc.transaction():
                for key, text in attack.items():
                    files[key] = text
                files["ok.txt"] = "fine\n"
            await eventually(lambda: read(victim / "ok.txt") == "fine\n" and read(victim / "sub/code.py") == "x = 1\n",
                             what="the harmless files mirrored")

            # The attacker edits a planted file again, and adds a marker after it.
            with doc.transaction():
                files[".git"] = "gitdir: evilrepo\n# again\n"
                files["marker.txt"] = "after\n"
            await eventually(lambda: read(victim / "marker.txt") == "after\n")

            # The teammate runs git where the attacker meant them to: nothing runs.
            for where in (victim, victim / "sub", victim / "evilrepo"):
                git(where, "status")
            assert not pwned.exists(), "git ran the attacker's command"
            assert on_disk(victim) == ALLOWED | {"marker.txt"}, join.output()

            # Said once for each refused file or folder, and left in the session untouched.
            out = join.output()
            for shown in (".git", "sub/.git", ".GIT/", ".Git/", ".g\u200cit/", ".hg/", ".envrc", "deep/down/.envrc",
                          ".nvim.lua", "evilrepo/HEAD", ".vscode/", ".COLLAB/"):
                assert out.count(f"skipped {shown}: could run code in your tools") == 1, out
            assert sum(".vscode/" in line for line in out.splitlines()) == 1, out  # one line for the folder
            assert "--allow-tool-config" in out
            for shown in ("CON", "a<b>.txt", "GIT~1/", "trailing."):
                assert out.count(f"skipped {shown}:") == 1, out
            assert "Traceback" not in out
            attack[".git"] = "gitdir: evilrepo\n# again\n"
            assert {k: str(files[k]) for k in attack} == attack
    finally:
        assert join.stop() == 0, join.output()
    assert not pwned.exists()


async def test_links_in_the_folder_cannot_lead_a_write_elsewhere(hub: HubProcess, tmp_path: Path) -> None:
    room = "link-room"
    victim, outside = tmp_path / "V", tmp_path / "outside"
    outside.mkdir()
    victim.mkdir()
    assert git(victim, "init", "-q").returncode == 0  # a real checkout
    (victim / "out").symlink_to(outside)  # links the teammate made themselves
    (victim / "cfg").symlink_to(".git")
    config = (victim / ".git/config").read_bytes()
    join = JoinProcess(f"{hub.url}/s/{room}", victim, "victim").start()
    try:
        async with pycrdt_client(f"{hub.ws_url}/ws/{room}") as doc:
            files = SchemaFiles(doc)
            with doc.transaction():
                files["out/evil.txt"] = "escaped\n"
                files["cfg/config"] = '[core]\n\tfsmonitor = "touch pwned"\n'
                files["cfg/hooks/post-checkout"] = "#!/bin/sh\ntouch pwned\n"
                files[".git/config"] = "[core]\n"
                files["ok.txt"] = "fine\n"
            await eventually(lambda: read(victim / "ok.txt") == "fine\n")
            await eventually(lambda: "cfg/hooks/post-checkout" in join.output(), what="the refusals said")
            assert list(outside.iterdir()) == []
            assert (victim / ".git/config").read_bytes() == config
            assert not (victim / ".git/hooks/post-checkout").exists()
            out = join.output()
            assert "not written: out/evil.txt: a folder on the way is a link out of" in out, out
            assert "not written: cfg/config: a folder on the way is a link to .git/config" in out, out
            # The teammate's own repository is not uploaded into the session either.
            assert sorted(files.keys()) == [".git/config", "cfg/config", "cfg/hooks/post-checkout", "ok.txt", "out/evil.txt"]
    finally:
        assert join.stop() == 0, join.output()


async def test_tool_config_is_mirrored_only_when_asked_and_git_never(hub: HubProcess, tmp_path: Path) -> None:
    room = "tools-room"
    folder = tmp_path / "W"
    async with pycrdt_client(f"{hub.ws_url}/ws/{room}") as doc:
        files = SchemaFiles(doc)
        with doc.transaction():
            files[".vscode/settings.json"] = '{"editor.tabSize": 4}\n'
            files[".envrc"] = "export A=1\n"
            files[".Git/config"] = "[core]\n"
        join = JoinProcess(f"{hub.url}/s/{room}", folder, "ann", "--allow-tool-config").start()
        try:
            await eventually(lambda: read(folder / ".envrc") == "export A=1\n" and
                             read(folder / ".vscode/settings.json") == '{"editor.tabSize": 4}\n' and
                             "skipped .Git/: could run code in your tools" in join.output(), what="the tool config")
            assert not (folder / ".Git").exists()
            # Both ways: an edit of the teammate's own tool config reaches the session.
            (folder / ".envrc").write_text("export A=2\n")
            await eventually(lambda: str(files[".envrc"]) == "export A=2\n")
        finally:
            assert join.stop() == 0, join.output()


async def test_the_rule_holds_for_paths_of_the_file_table_too(hub: HubProcess, tmp_path: Path) -> None:
    """Workspace schema 2 keeps a file's path as a property of an fs entry: the same rule applies."""
    room = "evil-fs-room"
    victim = tmp_path / "V"
    async with pycrdt_client(f"{hub.ws_url}/ws/{room}") as doc:
        meta, fs = doc.get("meta", type=pycrdt.Map), doc.get("fs", type=pycrdt.Map)
        with doc.transaction():
            meta["schema"] = 2
            for i, (path, text) in enumerate({".git": "gitdir: evil\n", "sub/.Git/config": "[core]\n",
                                              ".vscode/tasks.json": "{}\n", "ok.txt": "fine\n"}.items()):
                fs[f"id{i}"] = pycrdt.Map({"path": path, "text": pycrdt.Text(text), "created_by": "x", "created_ts": 0.0})
        join = JoinProcess(f"{hub.url}/s/{room}", victim, "victim").start()
        try:
            await eventually(lambda: read(victim / "ok.txt") == "fine\n")
            await eventually(lambda: "skipped .vscode/" in join.output(), what="the refusals said")
            assert on_disk(victim) == {"ok.txt"}, join.output()
            assert "skipped .git: could run code in your tools" in join.output()
        finally:
            assert join.stop() == 0, join.output()
