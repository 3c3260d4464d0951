"""`collab agent LINK` as an operator meets it when a setting is wrong, and when it leaves: one line
that says what to fix, never a traceback; "retrying" only when it retries. Real agent processes,
a real hub, the real `openai` SDK against the local stub server."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

import pytest

from collab.ai.backend import BackendSpecError, ChatMessage, ChatRequest, Usage
from collab.ai.openai_backend import OpenAIBackend
from collab.client.session import Session
from collab.commands.new import create_encrypted_room
from collab.crypto.links import plaintext_link, read_link, write_link
from tests.support.hub_process import HubProcess
from tests.support.openai_stub_server import OpenAIStubServer, Reply
from tests.support.waiting import eventually


def agent_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "OLLAMA_", "COLLAB_AGENT"))}
    return {**env, **extra}


def run_agent(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, "-m", "collab.cli", "agent", *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env or agent_env(), timeout=timeout,
    )
    return done.returncode, done.stdout


def one_line(out: str) -> str:
    assert "Traceback" not in out, out
    lines = out.strip().splitlines()
    assert len(lines) == 1, out
    return lines[0]


LINK = "http://127.0.0.1:9/s/room"  # never reached: each of these is refused before connecting


@pytest.mark.parametrize("key", [None, "sk-test-not-a-real-key"])
def test_a_base_url_without_a_scheme_is_named_as_the_problem(key: str | None) -> None:
    env = agent_env(OPENAI_BASE_URL="localhost:1234/v1", **({"OPENAI_API_KEY": key} if key else {}))
    code, out = run_agent(LINK, "--model", "openai:m", env=env)
    assert code == 2
    line = one_line(out)
    assert line == ("collab agent: OPENAI_BASE_URL 'localhost:1234/v1' needs http:// or https:// in front "
                    "(e.g. http://localhost:1234/v1)")
    assert "OPENAI_API_KEY" not in line and "cloud" not in line


def test_an_ollama_host_that_is_not_a_url_is_one_line() -> None:
    code, out = run_agent(LINK, "--model", "ollama:m", env=agent_env(OLLAMA_HOST="garbage::"))
    assert code == 2
    assert one_line(out) == ("collab agent: OLLAMA_HOST 'garbage::' is not a usable URL "
                             "(e.g. 127.0.0.1:11434 or http://gpu-box:11434)")


def test_a_base_url_with_credentials_is_refused_without_echoing_them() -> None:
    env = agent_env(OPENAI_BASE_URL="proxy-user:sk-live-abcdef123456@llm.internal/v1")
    code, out = run_agent(LINK, "--model", "openai:m", env=env)
    assert code == 2 and "needs http:// or https://" in one_line(out)
    assert "sk-live" not in out and "proxy-user" not in out


def test_base_urls_the_sdk_cannot_use_are_refused_when_the_backend_is_made(monkeypatch: pytest.MonkeyPatch) -> None:
    for url, why in [("localhost:1234/v1", "needs http:// or https://"), ("http://", "has no host name"),
                     ("http://host:99999/v1", "is not a usable URL"), ("ftp://host/v1", "needs http:// or https://")]:
        with pytest.raises(BackendSpecError, match=why):
            OpenAIBackend.openai("m", base_url=url, api_key="k")
    monkeypatch.setenv("OLLAMA_HOST", "[::1")
    with pytest.raises(BackendSpecError, match="OLLAMA_HOST"):
        OpenAIBackend.ollama("m")


async def test_a_bare_ollama_host_and_port_reach_the_server(stub: OpenAIStubServer, monkeypatch: pytest.MonkeyPatch) -> None:
    # OLLAMA_HOST=127.0.0.1:PORT as the ollama CLI takes it: http is implied, /v1 is added.
    host_port = stub.base_url.removeprefix("http://").removesuffix("/v1")
    monkeypatch.setenv("OLLAMA_HOST", host_port)
    backend = OpenAIBackend.ollama("stub-model")
    try:
        assert backend.base_url == stub.base_url and backend.local
        stub.script(Reply(tokens=["o", "k"]))
        text, usage = "", None
        async for delta in backend.chat(ChatRequest(messages=(ChatMessage("user", "hi"),), max_tokens=5)):
            if isinstance(delta, Usage):
                usage = delta
            else:
                text += delta
        assert text == "ok" and usage is not None
    finally:
        await backend.aclose()


def test_a_bare_ollama_host_gets_ollamas_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", "0.0.0.0")
    assert OpenAIBackend.ollama("m").base_url == "http://0.0.0.0:11434/v1"


async def test_a_read_only_link_is_refused_in_one_line_without_connecting(hub: HubProcess) -> None:
    keys = create_encrypted_room(hub.url)
    code, out = await asyncio.to_thread(run_agent, read_link(hub.url, keys), env=agent_env(COLLAB_AGENT_MODEL="builtin"))
    assert code == 1
    assert one_line(out) == ("collab agent: this is a read-only link (#r=...); the agent needs the room's write "
                             "link (#k=...) to answer")


@pytest.mark.parametrize("encrypted", [True, False])
async def test_ctrl_c_leaves_without_saying_retrying(hub: HubProcess, encrypted: bool) -> None:
    link = write_link(hub.url, create_encrypted_room(hub.url)) if encrypted else plaintext_link(hub.url, "leaving")
    proc = subprocess.Popen(
        [sys.executable, "-m", "collab.cli", "agent", link, "--name", "helper"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=agent_env(COLLAB_AGENT_MODEL="builtin"),
    )
    try:
        async with Session.connect(link, name="ann") as ann:
            await eventually(lambda: any(s.get("agent", {}).get("name") == "helper" for s in ann.peers().values()), 20)
            proc.send_signal(signal.SIGINT)
            await eventually(lambda: not any("agent" in s for s in ann.peers().values()), 20)  # it really left
        out, _ = await asyncio.to_thread(proc.communicate, timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, out
    assert "retrying" not in out and "Traceback" not in out, out
    assert out.strip().splitlines()[-1] == f"collab agent: helper left room {link.split('/s/')[1].split('#')[0]}"


@pytest.mark.parametrize("args, line", [
    (["--log-level", "loud"], "--log-level must be one of debug, info, warning, error (got 'loud')"),
    (["--color", "red"], "--color wants #rrggbb, like #7c3aed (got 'red')"),
    (["--color", "#12345g"], "--color wants #rrggbb, like #7c3aed (got '#12345g')"),
    (["--requests-per-minute", "0"], "--requests-per-minute must be at least 1"),
    (["--idle-timeout", "nan"], "--idle-timeout must be more than 0 seconds"),
])
def test_bad_options_are_one_line_before_anything_starts(args: list[str], line: str) -> None:
    code, out = run_agent(LINK, *args)
    assert code == 2
    assert one_line(out) == f"collab agent: {line}"


def test_help_gives_the_room_limits_and_their_defaults() -> None:
    done = subprocess.run([sys.executable, "-m", "collab.cli", "agent", "--help"], capture_output=True, text=True,
                          env=agent_env())
    assert done.returncode == 0
    text = " ".join(done.stdout.split())  # argparse wraps help at its own width
    assert "--requests-per-minute N model requests per room per minute; more are refused in the chat (default 20)" in text
    assert ("--tokens-per-hour N model tokens (prompt and answer) per room per hour; more are refused in the chat "
            "(default 200000)") in text
    assert "--color #RRGGBB the agent's colour, #rrggbb (default #7c3aed)" in text
