"""The agent against a real hub process, with real sessions: plaintext and encrypted rooms, the CLI."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import signal
import socket
import subprocess
import sys
from typing import Any, AsyncIterator

import pycrdt
import pytest

from collab.ai.agent import Agent, AgentConfig
from collab.ai.backend import load_backend
from collab.ai.suggestions import accept, request_suggestion
from collab.client.session import Session
from collab.crypto.links import plaintext_link, write_link
from tests.support.hub_process import HubProcess
from tests.support.openai_stub_server import Reply
from tests.support.store_file import log_rows, snapshot
from tests.support.waiting import eventually


def ai_replies(session: Session) -> list[pycrdt.Map]:
    return [m for m in session.workspace.chat if isinstance(m, pycrdt.Map) and m.get("kind") == "ai"]


def ai_text(session: Session) -> list[str]:
    return [str(m["text"]) for m in ai_replies(session)]


@contextlib.asynccontextmanager
async def agent_in(link: str, backend: Any, **config: Any) -> AsyncIterator[Agent]:
    async with Session.connect(link, name=config.get("name", "ai")) as session:
        async with Agent(session.doc, session.awareness, backend, AgentConfig(**config),
                         send_direct=session.provider.send_direct) as agent:
            yield agent
        await session.wait_idle()


async def test_two_clients_watch_one_answer_stream_through_the_hub(hub: HubProcess, stub, backend) -> None:
    link = plaintext_link(hub.url, "ai-watch")
    stub.script(Reply(tokens=["Use ", "a ", "dict", " here", "."], pause_after=3))
    async with Session.connect(link, name="ann") as ann, Session.connect(link, name="bob") as bob, \
            agent_in(link, backend) as agent:
        await eventually(lambda: any("agent" in s for s in bob.peers().values()), 15)
        shown = next(s for s in bob.peers().values() if "agent" in s)
        assert shown["user"]["name"] == "ai" and shown["agent"]["model"] == "stub-model"
        ann.workspace.post_chat("ann", "@ai how should I store this?")
        request = (await asyncio.to_thread(stub.wait_for_requests, 1))[0]
        await asyncio.to_thread(request.paused.wait, 15)
        await eventually(lambda: ai_text(ann) == ["Use a dict"] and ai_text(bob) == ["Use a dict"], 15)
        request.resume.set()
        await agent.idle()
        await eventually(lambda: ai_text(ann) == ["Use a dict here."] == ai_text(bob), 15)
    assert len(stub.requests) == 1


async def test_suggestion_accepted_by_another_participant_through_the_hub(hub: HubProcess, stub, backend) -> None:
    link = plaintext_link(hub.url, "ai-suggest")
    source = "def total(items):\n    return \n"
    cursor = source.index("return ") + len("return ")
    stub.script(Reply(tokens=["sum", "(items)"]))
    async with Session.connect(link, name="ann") as ann, Session.connect(link, name="bob") as bob, \
            agent_in(link, backend) as agent:
        ann.workspace.write("calc.py", source)
        await eventually(lambda: "calc.py" in bob.workspace, 15)
        sid = request_suggestion(ann.workspace, "calc.py", cursor, requested_by="ann")
        await eventually(lambda: sid in bob.workspace.suggestions
                         and bob.workspace.suggestions[sid].get("status") == "ready", 15)
        accept(bob.workspace, sid, decided_by="bob")
        expected = "def total(items):\n    return sum(items)\n"
        await eventually(lambda: ann.workspace.read("calc.py") == expected, 15)
        record = ann.workspace.suggestions[sid]
        await eventually(lambda: record.get("status") == "accepted", 15)
        assert (record["model"], record["requested_by"], record["decided_by"]) == ("stub-model", "ann", "bob")
        await agent.idle()
    assert len(stub.requests) == 1


async def test_encrypted_room_store_holds_no_plaintext_of_the_ai_output(hub: HubProcess, stub, backend) -> None:
    from collab.commands.new import create_encrypted_room

    keys = create_encrypted_room(hub.url)
    link = write_link(hub.url, keys)
    secret_tokens = ["ZEBRAQUOKKA", " answers", " PANGOLINPLUM"]
    stub.script(Reply(tokens=secret_tokens))
    async with Session.connect(link, name="ann") as ann, agent_in(link, backend) as agent:
        ann.workspace.post_chat("ann", "@ai tell me the OCELOTSECRET")
        await eventually(lambda: ai_text(ann) == ["".join(secret_tokens)], 15)
        await agent.idle()
        assert "OCELOTSECRET" in stub.requests[0].body["messages"][-1]["content"]  # the agent could read it
        await ann.wait_idle()
    rows = log_rows(hub.data / "collab.sqlite3", keys.room_id)
    assert rows, "the hub stored the room's updates"
    stored = b"".join(data for _, _, data in rows) + (snapshot(hub.data / "collab.sqlite3", keys.room_id) or (0, b""))[1]
    for word in ("ZEBRAQUOKKA", "PANGOLINPLUM", "OCELOTSECRET", "stub-model"):
        assert word.encode() not in stored
        assert word not in hub.log()


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, hub: HubProcess) -> None:
    """No network but the hub: every other connect fails as if the cable were out."""
    real_connect = socket.socket.connect
    real_getaddrinfo = socket.getaddrinfo

    def connect(self: socket.socket, address: Any) -> None:
        if isinstance(address, tuple) and address[0] in ("127.0.0.1", "::1") and address[1] == hub.port:
            return real_connect(self, address)
        raise OSError(errno.ENETUNREACH, "Network is unreachable")

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OLLAMA_HOST", "COLLAB_AGENT_MODEL"):
        monkeypatch.delenv(name, raising=False)


async def test_builtin_backend_answers_with_the_network_unavailable(hub: HubProcess, offline: None) -> None:
    with pytest.raises(OSError):
        socket.create_connection(("93.184.216.34", 443), timeout=2)  # the guard is real
    backend = load_backend(None)
    assert backend.spec == "builtin" and backend.local
    link = plaintext_link(hub.url, "ai-offline")
    source = "def area(width, height):\n    return width * height\n\nsize = ar\n"
    async with Session.connect(link, name="ann") as ann, agent_in(link, backend) as agent:
        ann.workspace.write("geo.py", source)
        await eventually(lambda: "geo.py" in agent.ws, 15)
        ann.workspace.post_chat("ann", "@ai where is area defined?")
        sid = request_suggestion(ann.workspace, "geo.py", len(source) - 1, requested_by="ann")
        await eventually(lambda: len(ai_text(ann)) == 1 and ai_replies(ann)[0].get("status") == "done", 15)
        await eventually(lambda: ann.workspace.suggestions[sid].get("status") == "ready", 15)
        await agent.idle()
        (answer,) = ai_text(ann)
        assert "not a language model" in answer and "geo.py:1: def area(width, height):" in answer
        assert str(ann.workspace.suggestions[sid]["text"]).startswith("ea(width, height)")  # one line, from the file
        assert "\n" not in str(ann.workspace.suggestions[sid]["text"])
        assert ann.workspace.suggestions[sid]["model"] == "builtin-ngram"


async def test_collab_agent_command(hub: HubProcess) -> None:
    link = plaintext_link(hub.url, "ai-cli")
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "COLLAB_AGENT_MODEL")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "collab.cli", "agent", link, "--name", "helper"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )
    try:
        async with Session.connect(link, name="ann") as ann:
            await eventually(lambda: any(s.get("agent", {}).get("name") == "helper" for s in ann.peers().values()), 20)
            ann.workspace.post_chat("ann", "@helper hello")
            await eventually(lambda: [m.get("status") for m in ai_replies(ann)] == ["done"], 20)
            assert ai_replies(ann)[0]["author"] == "helper"
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, out
    assert "helper is in room ai-cli with builtin" in out
    assert "hello" not in out.replace("@helper", "")  # the room's text never reaches the logs
