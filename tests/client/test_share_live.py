"""`collab share DIR` keeps the folder live, as a Live Share host does: a real process, a git repository,
a teammate with the write link and a viewer with the read-only link."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from collab.client import folderstate
from collab.client.session import Session
from tests.support.hub_process import HubProcess
from tests.support.waiting import eventually


def git(folder: Path, *args: str) -> str:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    return subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, check=True, env=env).stdout


def read(path: Path) -> str | None:
    try:
        return path.read_text()
    except FileNotFoundError:
        return None


class ShareProcess:
    def __init__(self, folder: Path, hub: HubProcess, *extra: str) -> None:
        cmd = [sys.executable, "-m", "collab.cli", "share", str(folder), "--server", hub.url, *extra]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
        self.err: list[str] = []
        self.out: list[str] = []
        for stream, into in ((self.proc.stderr, self.err), (self.proc.stdout, self.out)):
            threading.Thread(target=lambda s=stream, i=into: i.extend(s), daemon=True).start()

    def wait_for(self, what: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.err:
                if what in line:
                    return line
            assert self.proc.poll() is None, "".join(self.err)
            time.sleep(0.05)
        raise AssertionError(f"{what!r} not said:\n" + "".join(self.err))

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(30)


async def test_share_keeps_the_folder_live_until_ctrl_c_and_out_of_git_status(hub: HubProcess, tmp_path: Path) -> None:
    folder = tmp_path / "project"
    folder.mkdir()
    git(folder, "init", "-q")
    (folder / "app.py").write_text("print('hi')\n")
    git(folder, "add", "app.py")
    git(folder, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "start")
    share = ShareProcess(folder, hub)
    try:
        share.wait_for("keeping")
        link = share.out[0].strip()
        assert "#k=" in link
        read_only = share.wait_for("read-only link:").split("read-only link:")[1].strip()
        assert "#r=" in read_only and read_only.split("#")[0] == link.split("#")[0]
        async with Session.connect(link, name="ada") as ada, Session.connect(read_only, name="viewer") as viewer:
            assert ada.workspace.read("app.py") == "print('hi')\n"
            # The session's edits reach the folder, and the folder's the session: it is a mirror.
            ada.workspace.write("app.py", "print('hi')\nprint('ada')\n")
            ada.workspace.write("lib/new.py", "x = 1\n")
            await eventually(lambda: read(folder / "app.py") == "print('hi')\nprint('ada')\n", timeout=20)
            await eventually(lambda: read(folder / "lib/new.py") == "x = 1\n", timeout=20)
            (folder / "app.py").write_text("print('hi')\nprint('ada')\nprint('host')\n")
            await eventually(lambda: ada.workspace.snapshot().get("app.py", "").endswith("print('host')\n"), timeout=20)
            await eventually(lambda: viewer.workspace.snapshot().get("app.py", "").endswith("print('host')\n"), timeout=20)
        # Its own state is not in git status, and the project's .gitignore was not touched.
        status = git(folder, "status", "--porcelain", "--untracked-files=all")
        assert ".collab" not in status and status.splitlines() == [" M app.py", "?? lib/new.py"], status
        assert not (folder / ".gitignore").exists()
        assert ".collab/" in (folder / ".git/info/exclude").read_text()
        assert share.proc.poll() is None  # still live
    finally:
        code = share.stop()
    assert code == 0, "".join(share.err)
    assert share.err[-1].strip() == "collab share: stopped; the folder is consistent", "".join(share.err)
    # Shared again, --once: a new room with every file, the old room's state in .collab/ is no obstacle.
    again = subprocess.run([sys.executable, "-m", "collab.cli", "share", str(folder), "--server", hub.url, "--once"],
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr
    link2 = again.stdout.strip().splitlines()[0]
    assert link2.split("#")[0] != link.split("#")[0]
    async with Session.connect(link2, name="bob") as bob:
        assert bob.workspace.snapshot() == {"app.py": "print('hi')\nprint('ada')\nprint('host')\n", "lib/new.py": "x = 1\n"}
    assert (folder / ".git/info/exclude").read_text().count(".collab/") == 1  # said once


def test_the_state_is_excluded_in_the_repository_the_folder_is_in(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "sub").mkdir(parents=True)
    git(repo, "init", "-q")
    (repo / "a.txt").write_text("a\n")
    git(repo, "add", "a.txt")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "a")
    # A folder inside a repository (not its top): the repository's own exclude, said once.
    assert folderstate.exclude_from_git(repo / "sub") == repo / ".git/info/exclude"
    assert folderstate.exclude_from_git(repo / "sub") is None
    # A worktree's .git is a file: its exclude is the common one, which already has the line.
    git(repo, "worktree", "add", "-q", str(tmp_path / "wt"))
    assert folderstate.git_exclude_file(tmp_path / "wt") == (repo / ".git/info/exclude").resolve()
    assert folderstate.exclude_from_git(tmp_path / "wt") is None
    for where in (repo / "sub", tmp_path / "wt"):
        (where / ".collab").mkdir()
        (where / ".collab/state.json").write_text("{}")
        assert ".collab" not in git(where, "status", "--porcelain", "--untracked-files=all")
    # Outside any repository nothing is written.
    assert folderstate.exclude_from_git(tmp_path / "plain") is None
