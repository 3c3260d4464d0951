"""`collab agent LINK` as an operator meets it when a setting is wrong, and when it leaves: one line
that says what to fix, never a traceback; "retrying" only when it retries. Real agent processes,
a real hub, the real `openai` SDK against the local stub server."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from collab.ai.backend import BackendSpecError, ChatMessage, ChatRequest, Usage
from collab.ai.openai_backend import OpenAIBackend
from tests.support.openai_stub_server import OpenAIStubServer, Reply


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
