"""The `collab` command itself: `python -m collab`, COLLAB_SERVER, --help, Ctrl-C at any moment."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from collab.client.session import Session
from collab.crypto.links import parse_link
from tests.client.cli import collab, encrypted_link, error_lines, tcp_server
from tests.support.ports import free_port
from tests.support.hub_process import HubProcess


def test_python_dash_m_collab_runs_the_command() -> None:
    result = collab("--version")
    assert result.returncode == 0 and result.stdout.startswith("collab "), result.stderr


def test_new_and_share_honour_collab_server(hub: HubProcess, tmp_path: Path) -> None:
    env = {"COLLAB_SERVER": hub.url}
    new = collab("new", env=env)
    assert new.returncode == 0, new.stderr
    link = new.stdout.split("write link:")[1].split()[0]
    assert link.startswith(hub.url + "/s/") and parse_link(link).keys is not None
    folder = tmp_path / "src"
    folder.mkdir()
    (folder / "a.py").write_text("a = 1\n")
    share = collab("share", str(folder), "--plaintext", "--once", env=env)
    assert share.returncode == 0, share.stderr
    assert share.stdout.strip().startswith(hub.url + "/s/")


def test_server_help_is_the_same_for_new_and_share() -> None:
    def server_help(command: str) -> str:
        text = " ".join(collab(command, "--help", env={"COLUMNS": "200"}).stdout.split())
        return text.split("--server SERVER ")[1].split(" --")[0]

    assert server_help("new") == server_help("share")
    assert "COLLAB_SERVER" in server_help("new") and "http://127.0.0.1:8000" in server_help("new")


@pytest.mark.parametrize("delay", [0.1, 0.2, 0.35, 0.6])
async def test_ctrl_c_at_any_moment_is_one_line_and_130(delay: float, tmp_path: Path) -> None:
    async with tcp_server(None) as port:  # a hub that never answers: the command is still starting
        link = encrypted_link(f"http://127.0.0.1:{port}")
        # The delay counts from the end of the interpreter's own start-up: a Ctrl-C that lands while
        # Python imports its site module (a loaded machine takes over 0.1 s for that) is Python's
        # "Fatal Python error", before any line of collab runs, and says nothing about collab.
        argv = ["collab", "join", link, "--dir", str(tmp_path / "W")]
        start = f"import sys, runpy; print('started', file=sys.stderr, flush=True); sys.argv = {argv!r}; "
        start += "runpy.run_module('collab', run_name='__main__', alter_sys=True)"
        proc = await asyncio.create_subprocess_exec(sys.executable, "-c", start, stderr=subprocess.PIPE)
        assert proc.stderr is not None
        assert await asyncio.wait_for(proc.stderr.readline(), 30) == b"started\n"
        await asyncio.sleep(delay)
        proc.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(proc.communicate(), 30)
    stderr = err.decode()
    assert "Traceback" not in stderr, stderr
    assert proc.returncode == 130, stderr
    lines = error_lines(stderr)
    assert len(lines) == 1 and "interrupted" in lines[0], stderr


async def test_ctrl_c_during_share_says_the_room_is_incomplete(hub: HubProcess, tmp_path: Path) -> None:
    folder = tmp_path / "proj"
    for i in range(1500):
        (folder / f"pkg{i % 30}").mkdir(parents=True, exist_ok=True)
        (folder / f"pkg{i % 30}/m{i}.py").write_text(f"value_{i} = {i}\n" * 20)
    cmd = [sys.executable, "-m", "collab", "share", str(folder), "--server", hub.url]
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stderr is not None and hub.proc is not None
    try:
        first = await asyncio.wait_for(proc.stderr.readline(), 60)
        assert b"uploading" in first, first
        hub.proc.send_signal(signal.SIGSTOP)  # the hub stops answering: the upload cannot complete
        await asyncio.sleep(1)
        proc.send_signal(signal.SIGINT)
        out, rest = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        hub.proc.send_signal(signal.SIGCONT)
    stderr = (first + rest).decode()
    assert proc.returncode == 130, stderr
    assert out == b""  # no link: the room is incomplete
    last = error_lines(stderr)[-1]
    assert last.startswith("collab share: interrupted;") and "incomplete" in last, stderr
    assert "Traceback" not in stderr


def test_unreachable_server_for_share_is_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "src"
    folder.mkdir()
    result = collab("share", str(folder), "--server", f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 1
    assert len(error_lines(result.stderr)) == 1 and "cannot reach the hub" in result.stderr, result.stderr


async def test_share_says_when_the_hub_is_lost_and_finishes_when_it_is_back(tmp_path: Path) -> None:
    folder = tmp_path / "proj"
    for i in range(1500):
        (folder / f"pkg{i % 30}").mkdir(parents=True, exist_ok=True)
        (folder / f"pkg{i % 30}/m{i}.py").write_text(f"value_{i} = {i}\n" * 20)
    hub = HubProcess(tmp_path / "data").start()
    try:
        cmd = [sys.executable, "-m", "collab", "share", str(folder), "--server", hub.url, "--once"]
        proc = await asyncio.create_subprocess_exec(*cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stderr is not None
        first = await asyncio.wait_for(proc.stderr.readline(), 60)
        assert b"uploading" in first, first
        hub.kill()  # mid-upload
        lost = b""
        while not lost.endswith(b"the upload resumes when it is back\n"):  # progress lines come too
            line = await asyncio.wait_for(proc.stderr.readline(), 60)
            assert line, lost
            lost += line
        hub = HubProcess(tmp_path / "data", port=hub.port).start()
        out, rest = await asyncio.wait_for(proc.communicate(), 120)
        stderr = (first + lost + rest).decode()
        assert proc.returncode == 0, stderr
        assert "collab share: reconnected" in stderr and "shared 1500 files" in stderr, stderr
        link = out.decode().strip()
        assert "#k=" in link
        async with Session.connect(link, name="check") as check:
            assert len(check.workspace.paths()) == 1500
            assert check.workspace.read("pkg7/m7.py") == "value_7 = 7\n" * 20
    finally:
        hub.stop()
