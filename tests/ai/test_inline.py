"""Inline completions, agent side: requests in a typist's presence, addressed replies in the agent's.

In-process peers (tests/ai/linked.py) stand for the room; the model is the real openai SDK against
the local stub, or the builtin completer. The hub path is tests/ai/test_inline_e2e.py.
"""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator

import pytest

from collab.ai import fim
from collab.ai.agent import Agent, AgentConfig
from collab.ai.builtin import BuiltinBackend
from collab.ai.inline_client import REPLIES, ROOM_SETTING, InlineTypist, ask_for, read_ask
from collab.ai.openai_backend import OpenAIBackend
from collab.workspace import Workspace
from tests.ai.linked import LinkedPeers
from tests.support.openai_stub_server import OpenAIStubServer, Reply
from tests.support.waiting import eventually

SOURCE = "def total(items):\n    return "


def test_templates_follow_the_model_family() -> None:
    assert fim.template_for("Qwen/Qwen2.5-Coder-1.5B") is fim.TEMPLATES["qwen"]
    assert fim.template_for("qwen2.5-coder:1.5b-base") is fim.TEMPLATES["qwen"]
    assert fim.template_for("bigcode/starcoder2-3b") is fim.TEMPLATES["starcoder2"]
    assert fim.template_for("deepseek-coder-6.7b-base") is fim.TEMPLATES["deepseek"]
    assert fim.template_for("codestral-latest") is fim.TEMPLATES["codestral"]
    assert fim.template_for("codellama:7b-code") is fim.TEMPLATES["codellama"]
    assert fim.template_for("gpt-4o-mini") is None
    assert fim.template_for("gpt-4o-mini", "qwen") is fim.TEMPLATES["qwen"]
    assert fim.template_for("Qwen2.5-Coder-7B", "chat") is None
    assert fim.TEMPLATES["qwen"].render("a", "b") == "<|fim_prefix|>a<|fim_suffix|>b<|fim_middle|>"
    assert fim.TEMPLATES["starcoder2"].render("a", "b") == "<fim_prefix>a<fim_suffix>b<fim_middle>"
    assert fim.TEMPLATES["deepseek"].render("a", "b") == "<｜fim▁begin｜>a<｜fim▁hole｜>b<｜fim▁end｜>"
    assert fim.TEMPLATES["codestral"].render("a", "b") == "[SUFFIX]b[PREFIX]a"
    assert fim.TEMPLATES["codellama"].render("a", "b") == "<PRE> a <SUF>b <MID>"


def test_completions_stop_where_an_editor_would() -> None:
    # Mid-line: this line only. At a line's end: until a blank line, at most max_lines.
    assert fim.cut("x)\nmore", one_line=True, max_chars=100, max_lines=8) == ("x)", True)
    assert fim.cut("a\nb\n\nc", one_line=False, max_chars=100, max_lines=8) == ("a\nb", True)
    assert fim.cut("a\nb\nc", one_line=False, max_chars=100, max_lines=2) == ("a\nb", True)
    assert fim.cut("abcdef", one_line=False, max_chars=3, max_lines=2) == ("abc", True)
    assert fim.strip_stops("sum(x)<|endoftext|>junk", fim.TEMPLATES["qwen"].stop) == ("sum(x)", True)
    assert fim.single_line("f(", ")\n") and not fim.single_line("x = ", "\nnext")


def test_snippets_come_from_files_sharing_the_rare_names_near_the_cursor() -> None:
    files = {
        "a.py": "def parse_invoice(raw):\n    return Invoice(raw)\n",
        "b.py": "import os\nprint('hello')\n",
        "c.py": "class Invoice:\n    def __init__(self, raw):\n        self.raw = raw\n",
    }
    docs = fim.snippets(files, "a.py", "    return Invoice(raw)", 200)
    assert [d.path for d in docs] == ["c.py"]
    assert fim.as_comments("x.py", docs).startswith("# Path: c.py\n# class Invoice:")


def test_a_request_is_read_only_when_well_formed() -> None:
    good = ask_for("abc", "f.py", 3)
    assert read_ask(7, {"inline": good}) is not None
    for bad in ({**good, "at": 9}, {**good, "id": ""}, {**good, "h": 5}, {**good, "at": True}, "x"):
        assert read_ask(7, {"inline": bad}) is None
    assert read_ask(7, {"inline": good}).matches("abc")  # type: ignore[union-attr]
    assert not read_ask(7, {"inline": good}).matches("abd")  # type: ignore[union-attr]


@pytest.fixture
async def room(backend: OpenAIBackend) -> AsyncIterator[tuple[LinkedPeers, Agent, Workspace]]:
    peers = LinkedPeers(3)  # agent, Ada, Grace
    agent = Agent(peers.docs[0], peers.awareness[0], backend, AgentConfig())
    for aw, name in zip(peers.awareness[1:], ("Ada", "Grace")):
        aw.set_local_state({"user": {"name": name, "color": "#123456"}})
    ws = Workspace(peers.docs[1])
    ws.write("calc.py", SOURCE)
    async with agent:
        yield peers, agent, ws


def typist(peers: LinkedPeers, index: int) -> InlineTypist:
    return InlineTypist(peers.awareness[index])


async def test_a_pause_gets_a_reply_addressed_to_the_typist_alone(room: Any, stub: OpenAIStubServer) -> None:
    peers, agent, ws = room
    stub.script(Reply(tokens=["sum", "(items)"]))
    ada = typist(peers, 1)
    ada.ask(SOURCE, "calc.py", len(SOURCE))
    await eventually(lambda: (ada.reply() or {}).get("done") is True, 10)
    assert ada.reply()["text"] == "sum(items)"  # type: ignore[index]
    assert ada.reply()["model"] == "stub-model"  # type: ignore[index]
    replies = peers.awareness[2].states[peers.docs[0].client_id][REPLIES]
    assert list(replies) == [str(peers.awareness[1].client_id)]  # addressed: Grace has nothing of her own
    assert typist(peers, 2).reply() is None
    assert agent.inline.model_calls == 1 and len(stub.requests) == 1
    assert "<CURSOR>" in stub.requests[0].body["messages"][-1]["content"]  # a chat model: the insertion-only prompt
    # Nothing of it is in the shared document.
    assert "sum(items)" not in str(peers.docs[2].get_update())
    # Withdrawn: the reply goes from the agent's presence.
    ada.clear()
    await eventually(lambda: REPLIES not in peers.awareness[2].states[peers.docs[0].client_id], 5)


async def test_a_withdrawn_request_closes_the_model_stream(room: Any, stub: OpenAIStubServer) -> None:
    peers, agent, ws = room
    stub.script(Reply(tokens=["sum", "(items)", " + 1"], pause_after=1))
    ada = typist(peers, 1)
    ada.ask(SOURCE, "calc.py", len(SOURCE))
    request = (await asyncio.to_thread(stub.wait_for_requests, 1))[0]
    await asyncio.to_thread(request.paused.wait, 10)
    await eventually(lambda: (ada.reply() or {}).get("text") == "sum", 10)
    ada.clear()  # a mismatching keystroke: the page withdraws its request
    await asyncio.to_thread(request.finished.wait, 10)
    assert request.disconnected
    await eventually(lambda: agent.inline.cancelled == 1, 5)


async def test_typing_on_keeps_the_same_request_and_a_new_one_replaces_it(room: Any, stub: OpenAIStubServer) -> None:
    peers, agent, ws = room
    stub.script(Reply(tokens=["sum", "(items)"], pause_after=1), Reply(tokens=["len(items)"]))
    ada = typist(peers, 1)
    ada.ask(SOURCE, "calc.py", len(SOURCE))
    request = (await asyncio.to_thread(stub.wait_for_requests, 1))[0]
    await asyncio.to_thread(request.paused.wait, 10)
    ws.write("calc.py", SOURCE + "su")  # typed what the ghost shows: the request stays
    peers.awareness[1].set_local_state_field("cursor", {"moved": True})
    request.resume.set()
    await eventually(lambda: (ada.reply() or {}).get("done") is True, 10)
    assert len(stub.requests) == 1 and not request.disconnected
    ada.ask(SOURCE + "su", "calc.py", len(SOURCE) + 2)
    await eventually(lambda: (ada.reply() or {}).get("text") == "len(items)", 10)
    assert len(stub.requests) == 2


async def test_a_request_ahead_of_the_text_waits_for_it(backend: OpenAIBackend, stub: OpenAIStubServer) -> None:
    peers = LinkedPeers(2)
    ws = Workspace(peers.docs[1])
    ws.write("calc.py", "x")
    async with Agent(peers.docs[0], peers.awareness[0], backend, AgentConfig()) as agent:
        stub.script(Reply(tokens=["sum"]))
        ada = typist(peers, 1)
        peers._applying = True  # the document update is late: presence gets there first
        ws.write("calc.py", SOURCE)
        peers._applying = False
        ada.ask(SOURCE, "calc.py", len(SOURCE))
        await asyncio.sleep(0.2)
        assert not stub.requests  # the agent's copy is not the typist's yet
        peers.docs[0].apply_update(peers.docs[1].get_update())
        await eventually(lambda: (ada.reply() or {}).get("text") == "sum", 10)
        assert agent.inline.model_calls == 1


async def test_the_room_setting_turns_it_off(room: Any, stub: OpenAIStubServer) -> None:
    peers, agent, ws = room
    ws.settings[ROOM_SETTING] = False
    ada = typist(peers, 1)
    ada.ask(SOURCE, "calc.py", len(SOURCE))
    await eventually(lambda: (ada.reply() or {}).get("done") is True, 10)
    assert "off in this room" in ada.reply()["error"]  # type: ignore[index]
    assert not stub.requests


async def test_usage_counts_inline_apart(room: Any, stub: OpenAIStubServer) -> None:
    peers, agent, ws = room
    stub.script(Reply(tokens=["sum"]))
    ada = typist(peers, 1)
    ada.ask(SOURCE, "calc.py", len(SOURCE))
    await eventually(lambda: (ada.reply() or {}).get("done") is True, 10)
    await eventually(lambda: agent.ledger.inline_total["inline_requests"] == 1, 5)
    agent.ledger.flush_inline()
    usage = ws.ai_usage_of("ai")
    assert usage["inline_requests"] == 1 and usage["inline_completion_tokens"] >= 1
    assert usage.get("requests", 0) == 0  # chat and suggestions are counted as before, apart


async def test_the_builtin_completer_answers_from_the_room() -> None:
    peers = LinkedPeers(2)
    ws = Workspace(peers.docs[1])
    ws.write("util.py", "def compute_invoice_total(lines):\n    return 0\n")
    text = "from util import compute_invoice_total\n\nx = compute_inv"
    ws.write("main.py", text)
    async with Agent(peers.docs[0], peers.awareness[0], BuiltinBackend(), AgentConfig()):
        ada = typist(peers, 1)
        ada.ask(text, "main.py", len(text))
        await eventually(lambda: (ada.reply() or {}).get("done") is True, 10)
        assert ada.reply()["text"].startswith("oice_total")  # type: ignore[index]
