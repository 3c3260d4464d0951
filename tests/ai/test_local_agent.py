"""The agent with a local model (real llama.cpp, tiny random weights) in real rooms on a real hub."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, AsyncIterator

import pycrdt
import pytest

from collab.ai.agent import Agent, AgentConfig
from collab.ai.context import Budget
from collab.ai.fim import TEMPLATES
from collab.ai.inline_client import InlineTypist
from collab.ai.local_backend import LocalBackend, LocalSettings
from collab.ai.suggestions import accept, request_suggestion
from collab.client.session import Session
from collab.crypto.links import plaintext_link
from collab.workspace import LOCAL_MODELS_ONLY
from tests.support.hub_process import HubProcess
from tests.support.tiny_gguf import generation_stopped_early, write_tiny_gguf
from tests.support.waiting import eventually

DESCRIPTION = "local model tiny (F32), on this machine"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_gguf(tmp_path_factory.mktemp("models") / "tiny.gguf")


@pytest.fixture
async def local(tiny_model: Path) -> AsyncIterator[LocalBackend]:
    backend = LocalBackend(tiny_model, name="tiny", quantisation="F32", fim_template=TEMPLATES["qwen"],
                           settings=LocalSettings(threads=1, ctx_size=4096, parallel=2))
    try:
        yield backend
    finally:
        await backend.aclose()


def ai_replies(session: Session) -> list[pycrdt.Map]:
    return [m for m in session.workspace.chat if isinstance(m, pycrdt.Map) and m.get("kind") == "ai"]


@contextlib.asynccontextmanager
async def agent_in(link: str, backend: Any, **config: Any) -> AsyncIterator[Agent]:
    async with Session.connect(link, name="ai") as session:
        async with Agent(session.doc, session.awareness, backend, AgentConfig(**config),
                         send_direct=session.provider.send_direct) as agent:
            yield agent
        await session.wait_idle()


async def test_a_local_model_answers_in_a_local_models_only_room(hub: HubProcess, local: LocalBackend) -> None:
    link = plaintext_link(hub.url, "local-chat")
    async with Session.connect(link, name="ann") as ann, Session.connect(link, name="bob") as bob, \
            agent_in(link, local, budget=Budget(answer_tokens=40)) as agent:
        ann.workspace.settings[LOCAL_MODELS_ONLY] = True
        await eventually(lambda: agent.local_only(), 15)
        await eventually(lambda: any("agent" in s for s in bob.peers().values()), 15)
        shown = next(s["agent"] for s in bob.peers().values() if "agent" in s)
        assert shown["local"] is True and shown["description"] == DESCRIPTION and shown["backend"] == "local:tiny"
        ann.workspace.post_chat("ann", "@ai what does this do?")
        await eventually(lambda: [m.get("status") for m in ai_replies(bob)] == ["done"], 30)
        reply = ai_replies(bob)[0]
        assert str(reply["text"]) and reply["model"] == "tiny"
        assert reply["usage"]["completion_tokens"] == 40 and not reply["usage"]["estimated"]
        usage = bob.workspace.ai_usage_of("ai")
        await eventually(lambda: bob.workspace.ai_usage_of("ai").get("requests") == 1, 15)
        usage = bob.workspace.ai_usage_of("ai")
        assert usage["description"] == DESCRIPTION and usage["local"] is True
        assert agent.model_calls == 1


async def test_a_suggestion_streams_from_the_local_model_and_is_accepted(hub: HubProcess, local: LocalBackend) -> None:
    link = plaintext_link(hub.url, "local-suggest")
    source = "def total(items):\n    return \n"
    cursor = source.index("return ") + len("return ")
    async with Session.connect(link, name="ann") as ann, Session.connect(link, name="bob") as bob, \
            agent_in(link, local, budget=Budget(suggestion_tokens=12)):
        ann.workspace.write("calc.py", source)
        await eventually(lambda: "calc.py" in bob.workspace, 15)
        sid = request_suggestion(ann.workspace, "calc.py", cursor, requested_by="ann")
        await eventually(lambda: sid in bob.workspace.suggestions
                         and bob.workspace.suggestions[sid].get("status") == "ready", 30)
        text = str(bob.workspace.suggestions[sid]["text"])
        assert text and local.last_call is not None and local.last_call.kind == "completion"
        accept(bob.workspace, sid, decided_by="bob")
        expected = source[:cursor] + text + source[cursor:]
        await eventually(lambda: ann.workspace.read("calc.py") == expected, 15)


async def test_an_edit_at_the_anchor_stops_generation_early(hub: HubProcess, local: LocalBackend) -> None:
    link = plaintext_link(hub.url, "local-cancel")
    source = "x = 1\ny = \nz = 3\n"
    cursor = source.index("y = ") + len("y = ")
    max_tokens = 3000  # far more than can stream before the edit lands: the model never ends on its own
    async with Session.connect(link, name="ann") as ann, \
            agent_in(link, local, budget=Budget(suggestion_tokens=max_tokens)) as agent:
        ann.workspace.write("v.py", source)
        await eventually(lambda: "v.py" in agent.ws, 15)
        sid = request_suggestion(ann.workspace, "v.py", cursor, requested_by="ann")
        await eventually(lambda: sid in ann.workspace.suggestions and str(ann.workspace.suggestions[sid]["text"]), 30)
        text = ann.workspace.files["v.py"]
        text.insert(cursor, "2")  # ann types on the anchor's line while the suggestion streams
        await eventually(lambda: ann.workspace.suggestions[sid].get("status") == "stale", 30)
        record = local.last_call
        assert record is not None
        await asyncio.to_thread(record.returned.wait, 30)
        assert record.stop_requested and record.finish_reason is None
        assert record.chunks < max_tokens
        # The edit travels through the hub first, so some tokens stream meanwhile; without the stop
        # llama.cpp would go on to max_tokens.
        await generation_stopped_early(local, max_tokens)


async def test_an_inline_completion_reaches_the_typist_alone(hub: HubProcess, tiny_model: Path) -> None:
    # Named like a Qwen coder model, so inline completion picks the Qwen FIM template and calls fill().
    backend = LocalBackend(tiny_model, name="qwen2.5-coder-tiny", quantisation="F32",
                           settings=LocalSettings(threads=1, ctx_size=2048, parallel=1))
    link = plaintext_link(hub.url, "local-inline")
    source = "def total(items):\n    return "
    try:
        async with Session.connect(link, name="ann") as ann, Session.connect(link, name="bob") as bob, \
                agent_in(link, backend) as agent:
            ann.workspace.write("calc.py", source)
            await eventually(lambda: agent.ws.read("calc.py") == source if "calc.py" in agent.ws else False, 15)
            ada = InlineTypist(ann.awareness, ann.provider.on_direct)
            to_bob: list[dict[str, Any]] = []
            bob.provider.on_direct(lambda _sender, message: to_bob.append(message))
            ada.ask(source, "calc.py", len(source))
            await eventually(lambda: (ada.reply() or {}).get("done") is True, 30)
            reply = ada.reply()
            assert reply is not None and "error" not in reply and reply["model"] == "qwen2.5-coder-tiny"
            record = backend.last_call
            assert record is not None and record.kind == "completion" and record.chunks >= 1
            assert agent.inline.model_calls == 1
            assert to_bob == []  # addressed to the typist only: Bob's provider received nothing
    finally:
        await backend.aclose()


async def test_collab_agent_runs_a_gguf_file_given_by_path(hub: HubProcess, tiny_model: Path) -> None:
    link = plaintext_link(hub.url, "local-cli")
    env = {k: v for k, v in os.environ.items() if k != "COLLAB_AGENT_MODEL"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "collab.cli", "agent", link, "--model", f"local:{tiny_model}", "--threads", "1",
         "--ctx-size", "1024", "--gpu-layers", "0", "--answer-tokens", "16"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )
    try:
        async with Session.connect(link, name="ann") as ann:
            await eventually(lambda: any("agent" in s for s in ann.peers().values()), 30)
            shown = next(s["agent"] for s in ann.peers().values() if "agent" in s)
            assert shown["description"] == "local model tiny, on this machine"
            ann.workspace.post_chat("ann", "@ai hello")
            await eventually(lambda: [m.get("status") for m in ai_replies(ann)] == ["done"], 30)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert f"with local:{tiny_model} (local model tiny, on this machine)" in out


def test_without_the_extra_a_local_model_is_one_line_saying_what_to_install(tmp_path: Path) -> None:
    # A module that fails to import, ahead of the real one on the path, stands for the binding not installed.
    (tmp_path / "xllamacpp.py").write_text("raise ImportError('not installed')\n")
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    result = subprocess.run(
        [sys.executable, "-m", "collab.cli", "agent", "http://127.0.0.1:9/s/room", "--model", "local:/x/m.gguf"],
        capture_output=True, text=True, env=env, timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "collab agent: local models need the optional llama.cpp binding: pip install 'collab[local]'"]


@pytest.mark.parametrize(("flags", "line"), [
    (["--threads", "0"], "--threads must be at least 1 (or -1 for llama.cpp's choice)"),
    (["--ctx-size", "10"], "--ctx-size must be at least 64 tokens"),
    (["--gpu-layers", "-2"], "--gpu-layers must be 0 or more (or -1 for all that fit)"),
])
def test_bad_local_flags_are_one_line_before_anything_loads(flags: list[str], line: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "collab.cli", "agent", "http://127.0.0.1:9/s/room", "--model", "local:/x/m.gguf", *flags],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2 and result.stderr.strip().splitlines() == [f"collab agent: {line}"]
