"""The write secret need not be on the command line (issue 13, finding 10).

`collab join` and `collab agent` read the link from $COLLAB_LINK, or from stdin when the link
argument is ``-``; either way `ps` (``/proc/<pid>/cmdline``) shows no ``#k=`` secret.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from collab.client.session import Session
from collab.commands.new import create_encrypted_room
from collab.crypto.links import write_link
from tests.support.hub_process import HubProcess
from tests.support.waiting import eventually

COLLAB = [sys.executable, "-m", "collab.cli"]


class Command:
    """A collab command started with the link kept off its command line."""

    def __init__(self, args: list[str], *, env: dict[str, str] | None = None, stdin: str | None = None) -> None:
        clean = {k: v for k, v in os.environ.items() if k != "COLLAB_LINK" and not k.startswith(("OPENAI_", "OLLAMA_"))}
        self.proc = subprocess.Popen(
            [*COLLAB, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**clean, "COLLAB_AGENT_MODEL": "builtin", **(env or {})},
        )
        assert self.proc.stdin is not None
        if stdin is not None:
            self.proc.stdin.write(stdin)
        self.proc.stdin.close()
        self.lines: list[str] = []
        self._pump_thread = threading.Thread(target=self._pump, daemon=True)
        self._pump_thread.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    def cmdline(self) -> str:
        return Path(f"/proc/{self.proc.pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()

    def stop(self) -> tuple[int, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        return self.wait()

    def wait(self) -> tuple[int, str]:
        code = self.proc.wait(30)
        self._pump_thread.join(10)  # it has read the output to its end
        return code, "".join(self.lines)


def secret_of(link: str) -> str:
    return link.split("#k=", 1)[1]


@pytest.mark.parametrize("how", ["environment", "stdin"])
async def test_join_takes_the_link_from_the_environment_or_stdin(hub: HubProcess, tmp_path: Path, how: str) -> None:
    link = write_link(hub.url, create_encrypted_room(hub.url))
    folder = tmp_path / "W"
    args = ["join", "--dir", str(folder), "--name", "ann"]
    join = Command(args, env={"COLLAB_LINK": link}) if how == "environment" else Command(["join", "-", *args[1:]],
                                                                                           stdin=link + "\n")
    try:
        await eventually(lambda: any(line.startswith("mirroring room") for line in join.lines), 30,
                         what=f"join started\n{''.join(join.lines)}")
        assert secret_of(link) not in join.cmdline()
        async with Session.connect(link, name="bob") as bob:
            bob.workspace.write("hello.py", "print('hi')\n")
            await eventually(lambda: (folder / "hello.py").exists(), 20, what="bob's file in the folder")
    finally:
        code, out = await asyncio.to_thread(join.stop)
    assert code == 0, out


async def test_agent_takes_the_link_from_the_environment(hub: HubProcess) -> None:
    link = write_link(hub.url, create_encrypted_room(hub.url))
    agent = Command(["agent", "--name", "helper"], env={"COLLAB_LINK": link})
    try:
        async with Session.connect(link, name="ann") as ann:
            await eventually(lambda: any(s.get("agent", {}).get("name") == "helper" for s in ann.peers().values()), 30,
                             what=f"the agent in the room\n{''.join(agent.lines)}")
            assert secret_of(link) not in agent.cmdline()
    finally:
        code, out = await asyncio.to_thread(agent.stop)
    assert code == 0, out
    assert secret_of(link) not in out


async def test_agent_takes_the_link_from_stdin(hub: HubProcess) -> None:
    link = write_link(hub.url, create_encrypted_room(hub.url))
    agent = Command(["agent", "-", "--name", "helper"], stdin=link)
    try:
        async with Session.connect(link, name="ann") as ann:
            await eventually(lambda: any(s.get("agent", {}).get("name") == "helper" for s in ann.peers().values()), 30,
                             what=f"the agent in the room\n{''.join(agent.lines)}")
    finally:
        code, out = await asyncio.to_thread(agent.stop)
    assert code == 0, out


@pytest.mark.parametrize("command", ["join", "agent"])
@pytest.mark.parametrize("stdin", [None, ""])
def test_no_link_anywhere_is_one_line_saying_where_to_put_it(command: str, stdin: str | None, tmp_path: Path) -> None:
    args = [command] if stdin is None else [command, "-"]
    if command == "join":
        args += ["--dir", str(tmp_path / "W")]
    code, out = Command(args, stdin=stdin).wait()
    assert code == 2, out
    lines = out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"collab {command}: "), out
    assert ("no link on stdin" if stdin is not None else "COLLAB_LINK") in lines[0], out
