"""`collab agent --serve` as an operator meets it when something is wrong: a bad name, a refusal
from the hub, a hub that is down, a data folder it cannot write. Real hub process, real agent process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from collab.ai.agent import AgentConfig
from collab.ai.builtin import BuiltinBackend
from collab.ai.service import AGENT_NAME, AgentNameError, AgentService, ServiceConfig
from collab.hub.agents import NAME as HUB_AGENT_NAME


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
