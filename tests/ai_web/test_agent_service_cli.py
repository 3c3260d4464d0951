"""`collab agent --serve` as an operator meets it when something is wrong: a bad name, a refusal
from the hub, a hub that is down, a data folder it cannot write. Real hub process, real agent process."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import AsyncIterator

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from collab.ai.agent import AgentConfig
from collab.ai.builtin import BuiltinBackend
from collab.ai.service import AGENT_NAME, AgentNameError, AgentService, ServiceConfig
from collab.crypto.sealing import public_bytes, seal
from collab.client.session import Session
from collab.commands.new import create_encrypted_room
from collab.crypto.keys import b64url_encode
from collab.crypto.links import write_link
from collab.hub.agents import NAME as HUB_AGENT_NAME
from collab.hub.agents import TOKEN_ENV
from tests.support.hub_process import HubProcess
from tests.support.ports import free_port
from tests.support.waiting import eventually


def agent_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "OLLAMA_", "COLLAB_AGENT"))}
    return {**env, "COLLAB_AGENT_MODEL": "builtin", **extra}


def run_agent(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> tuple[int, str]:
    """Run `collab agent ...` to its end; a process still running after ``timeout`` fails the test."""
    done = subprocess.run(
        [sys.executable, "-m", "collab.cli", "agent", *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env or agent_env(), timeout=timeout,
    )
    return done.returncode, done.stdout


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_the_service_checks_names_with_the_hubs_rule() -> None:
    assert AGENT_NAME.pattern == HUB_AGENT_NAME.pattern


@pytest.mark.parametrize("name", ["../x", "../../etc/evil", "a/b", "Pair", ".hidden", "x" * 33, ""])
def test_a_name_the_hub_would_refuse_writes_no_file_and_exits(tmp_path: Path, name: str) -> None:
    # Refused before the hub is contacted: the address is a closed port, and the run still ends at once.
    code, out = run_agent("--serve", "--hub", "http://127.0.0.1:9", "--name", name, "--data", str(tmp_path / "data"))
    assert code == 2, out
    assert out.strip().count("\n") == 0, out  # one line, no traceback
    assert f"--name {name!r} cannot be listed on a hub" in out
    assert files_under(tmp_path) == []  # not DATA/x.x25519, not even DATA/agents


def test_the_service_refuses_a_bad_name_before_touching_the_key_file(tmp_path: Path) -> None:
    key_file = tmp_path / "x.x25519"
    config = ServiceConfig(hub="http://127.0.0.1:9", agent=AgentConfig(name="../x"), key_file=key_file)
    with pytest.raises(AgentNameError):
        AgentService(config, BuiltinBackend())
    assert files_under(tmp_path) == []


class AgentRun:
    """A `collab agent --serve` process whose output is read as it comes."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "collab.cli", "agent", *args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env or agent_env(), bufsize=1,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._pump, daemon=True)
        self._reader.start()

    def _pump(self) -> None:
        assert self.proc.stdout
        for line in self.proc.stdout:
            self.lines.append(line)

    def output(self) -> str:
        return "".join(self.lines)

    async def ended(self, timeout: float) -> int:
        """The exit code, once the process has ended and all its output is read."""
        await eventually(lambda: self.proc.poll() is not None and not self._reader.is_alive(), timeout)
        return self.proc.returncode

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._reader.join(5)
        return self.proc.returncode


@contextlib.asynccontextmanager
async def agent_run(*args: str, env: dict[str, str] | None = None) -> AsyncIterator[AgentRun]:
    run = AgentRun(*args, env=env)
    try:
        yield run
    finally:
        await asyncio.to_thread(run.stop)


def refusal_line(out: str) -> str:
    """The one line a refused service ends with; nothing retried, nothing dumped."""
    assert "Traceback" not in out and "retrying" not in out, out
    last = out.strip().splitlines()[-1]
    assert last.startswith("collab agent: the hub at "), out
    return last


async def test_a_name_held_by_another_key_is_one_line_and_exit_1(hub: HubProcess, tmp_path: Path) -> None:
    other = b64url_encode(public_bytes(X25519PrivateKey.generate()))
    async with httpx.AsyncClient(base_url=hub.url) as http:
        held = await http.post("/api/agents", json={"name": "pair", "public_key": other})
        assert held.status_code == 200
    async with agent_run("--serve", "--hub", hub.url, "--name", "pair", "--data", str(tmp_path / "agent")) as agent:
        assert await agent.ended(30) == 1, agent.output()
    line = refusal_line(agent.output())
    assert "(409)" in line and "the name 'pair' is held by another running agent" in line and "--name" in line


async def test_a_missing_or_wrong_agent_token_is_one_line_and_exit_1(tmp_path: Path) -> None:
    hub = HubProcess(tmp_path / "data", env={TOKEN_ENV: "hub-secret-7f3a"}).start()
    try:
        async with agent_run("--serve", "--hub", hub.url, "--data", str(tmp_path / "agent")) as missing:
            assert await missing.ended(30) == 1, missing.output()
        assert f"(401): the hub needs its agent token: set {TOKEN_ENV}" in refusal_line(missing.output())
        wrong_env = agent_env(**{TOKEN_ENV: "not-the-token-91c2"})
        async with agent_run("--serve", "--hub", hub.url, "--data", str(tmp_path / "agent"), env=wrong_env) as wrong:
            assert await wrong.ended(30) == 1, wrong.output()
        assert f"(401): {TOKEN_ENV} is not the hub's agent token" in refusal_line(wrong.output())
        assert "not-the-token-91c2" not in wrong.output()  # secrets never reach the logs
        async with httpx.AsyncClient(base_url=hub.url) as http:
            assert (await http.get("/api/agents")).json()["agents"] == []
    finally:
        hub.stop()


async def test_a_request_the_hub_rejects_is_one_line_and_exit_1(hub: HubProcess, tmp_path: Path) -> None:
    # A model name longer than the directory lists: the hub answers 400, and asking again cannot help.
    env = agent_env(OPENAI_BASE_URL="http://127.0.0.1:9/v1")
    args = ("--serve", "--hub", hub.url, "--model", "openai:" + "m" * 200, "--data", str(tmp_path / "agent"))
    async with agent_run(*args, env=env) as agent:
        assert await agent.ended(30) == 1, agent.output()
    assert "(400): 'model' must be a string of at most 128 characters" in refusal_line(agent.output())


async def test_a_hub_that_is_down_is_retried_with_backoff_until_it_is_up(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there until the hub starts on it
    url = f"http://127.0.0.1:{port}"
    async with agent_run("--serve", "--hub", url, "--name", "late", "--data", str(tmp_path / "agent")) as agent:
        await eventually(lambda: "retrying in 4 s" in agent.output(), 30)
        assert f"cannot register with {url}: cannot connect" in agent.output()
        assert "retrying in 2 s" in agent.output()
        hub = HubProcess(tmp_path / "data", port=port).start()
        try:
            async with httpx.AsyncClient(base_url=hub.url) as http:
                async def listed() -> list[str]:
                    return [a["name"] for a in (await http.get("/api/agents")).json()["agents"]]

                async def registered() -> bool:
                    return await listed() == ["late"]

                await eventually(registered, 60, interval=0.1, what="the agent listed once the hub is up")
            assert agent.proc.poll() is None
            assert await asyncio.to_thread(agent.stop) == 0, agent.output()
        finally:
            hub.stop()
    assert "late registered at" in agent.output()


class _BadGateway(BaseHTTPRequestHandler):
    """A reverse proxy whose hub is restarting: every request gets 502 and an HTML page."""

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        self.send_response(502)
        self.send_header("content-type", "text/html")
        body = b"<html><body>502 Bad Gateway</body></html>"
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST  # noqa: N815

    def log_message(self, *args: object) -> None:
        pass


async def test_a_5xx_from_a_proxy_in_front_is_retried_not_fatal(tmp_path: Path) -> None:
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), _BadGateway)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{proxy.server_address[1]}"
    try:
        async with agent_run("--serve", "--hub", url, "--data", str(tmp_path / "agent")) as agent:
            await eventually(lambda: "retrying in 4 s" in agent.output(), 30)
            assert "the hub answered 502; retrying in 2 s" in agent.output()
            assert agent.proc.poll() is None
            assert await asyncio.to_thread(agent.stop) == 0, agent.output()
    finally:
        proxy.shutdown()
        proxy.server_close()


async def test_ctrl_c_with_a_room_joined_leaves_without_saying_retrying(hub: HubProcess, tmp_path: Path) -> None:
    keys = create_encrypted_room(hub.url)
    link = write_link(hub.url, keys)
    data = tmp_path / "agent"
    async with agent_run("--serve", "--hub", hub.url, "--name", "pair", "--data", str(data)) as agent:
        key_file = data / "agents" / "pair.x25519"
        await eventually(lambda: "pair registered at" in agent.output(), 30)
        agent_key = X25519PrivateKey.from_private_bytes(key_file.read_bytes())
        async with Session.connect(link, name="ann") as ann, httpx.AsyncClient(base_url=hub.url) as http:
            posted = await http.post("/api/agents/pair/invites", json=seal(keys, public_bytes(agent_key)).to_json())
            assert posted.status_code == 202
            await eventually(lambda: any("agent" in s for s in ann.peers().values()), 30)
            agent.proc.send_signal(signal.SIGINT)
            await eventually(lambda: not any("agent" in s for s in ann.peers().values()), 30)
        assert await agent.ended(30) == 0, agent.output()
    out = agent.output()
    assert "retrying" not in out and "Traceback" not in out, out
    assert out.strip().splitlines()[-1].startswith("collab agent: pair stopped serving")


def test_a_data_folder_it_cannot_write_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder\n")
    code, out = run_agent("--serve", "--hub", "http://127.0.0.1:9", "--data", str(tmp_path / "a-file" / "data"))
    assert code == 1
    assert "Traceback" not in out and out.strip().count("\n") == 0, out
    assert out.strip() == (f"collab agent: cannot keep the agent's key at {tmp_path}/a-file/data/agents/ai.x25519: "
                           "Not a directory (choose a folder this user can write with --data or COLLAB_DATA)")


def test_a_key_path_taken_by_a_folder_is_one_line(tmp_path: Path) -> None:
    taken = tmp_path / "data" / "agents" / "pair.x25519"
    taken.mkdir(parents=True, mode=0o700)
    code, out = run_agent("--serve", "--hub", "http://127.0.0.1:9", "--name", "pair", "--data", str(tmp_path / "data"))
    assert code == 1
    assert "Traceback" not in out and out.strip().count("\n") == 0, out
    assert f"cannot keep the agent's key at {taken}: Is a directory" in out
