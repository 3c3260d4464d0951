"""Inline completions, agent side: requests in a typist's presence, replies direct messages to it.

In-process peers (tests/ai/linked.py) stand for the room, their direct messages delivered by
``link_direct`` on the next loop turn as a hub would relay them; the model is the real openai SDK
against the local stub, or the builtin completer. The hub path is tests/ai/test_inline_e2e.py.
"""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator

import pytest

from collab.ai import fim
from collab.ai.agent import Agent, AgentConfig
from collab.ai.builtin import BuiltinBackend
from collab.ai.inline import ReplyStream
from collab.ai.inline_client import REPLY, ROOM_SETTING, InlineTypist, ask_for, read_ask
from collab.ai.openai_backend import OpenAIBackend
from collab.client.direct import DirectMessages
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


def link_direct(peers: LinkedPeers) -> list[DirectMessages]:
    """Direct messages between linked peers by Yjs client id, each delivered on a later loop turn
    (as a hub relays it) to its addressee alone: what each peer's provider would give it."""
    channels: dict[int, DirectMessages] = {}

    def wire(sender: int, peer: int, payload: bytes) -> bool:
        target = channels.get(peer)
        if target is None:
            return False
        asyncio.get_running_loop().call_soon(target.received, sender, payload)
        return True

    for aw in peers.awareness:
        channels[aw.client_id] = DirectMessages(lambda peer, payload, me=aw.client_id: wire(me, peer, payload))
    return list(channels.values())


class DirectPeers(LinkedPeers):
    """Linked peers that also carry direct messages: ``direct[i]`` is peer i's channel."""

    def __init__(self, count: int) -> None:
        super().__init__(count)
        self.direct = link_direct(self)


def linked(count: int) -> tuple[DirectPeers, list[DirectMessages]]:
    peers = DirectPeers(count)
    return peers, peers.direct


@pytest.fixture
async def room(backend: OpenAIBackend) -> AsyncIterator[tuple[DirectPeers, Agent, Workspace]]:
    peers, _ = linked(3)  # agent, Ada, Grace
    agent = Agent(peers.docs[0], peers.awareness[0], backend, AgentConfig(), send_direct=peers.direct[0].send)
    for aw, name in zip(peers.awareness[1:], ("Ada", "Grace")):
        aw.set_local_state({"user": {"name": name, "color": "#123456"}})
    ws = Workspace(peers.docs[1])
    ws.write("calc.py", SOURCE)
    async with agent:
        yield peers, agent, ws


def received(peers: DirectPeers, index: int) -> int:
    """Direct messages peer ``index`` has received, whatever they were."""
    channel = peers.direct[index]
    return channel.received_count


def typist(peers: DirectPeers, index: int) -> InlineTypist:
    return InlineTypist(peers.awareness[index], peers.direct[index].subscribe)


async def test_a_pause_gets_a_reply_addressed_to_the_typist_alone(room: Any, stub: OpenAIStubServer) -> None:
    peers, agent, ws = room
    stub.script(Reply(tokens=["sum", "(items)"]))
    ada = typist(peers, 1)
    ada.ask(SOURCE, "calc.py", len(SOURCE))
    await eventually(lambda: (ada.reply() or {}).get("done") is True, 10)
    assert ada.reply()["text"] == "sum(items)"  # type: ignore[index]
    assert ada.reply()["model"] == "stub-model"  # type: ignore[index]
    # Addressed: Ada's direct messages carried it, Grace's received nothing at all.
    assert received(peers, 1) >= 1 and received(peers, 2) == 0
    assert agent.inline.model_calls == 1 and len(stub.requests) == 1
    assert "<CURSOR>" in stub.requests[0].body["messages"][-1]["content"]  # a chat model: the insertion-only prompt
    # Nothing of it is in the shared document, nor in the agent's presence.
    assert "sum(items)" not in str(peers.docs[2].get_update())
    assert "sum(items)" not in str(peers.awareness[2].states[peers.docs[0].client_id])


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
    peers, _ = linked(2)
    ws = Workspace(peers.docs[1])
    ws.write("calc.py", "x")
    async with Agent(peers.docs[0], peers.awareness[0], backend, AgentConfig(), send_direct=peers.direct[0].send) as agent:
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
    peers, _ = linked(2)
    ws = Workspace(peers.docs[1])
    ws.write("util.py", "def compute_invoice_total(lines):\n    return 0\n")
    text = "from util import compute_invoice_total\n\nx = compute_inv"
    ws.write("main.py", text)
    async with Agent(peers.docs[0], peers.awareness[0], BuiltinBackend(), AgentConfig(),
                     send_direct=peers.direct[0].send):
        ada = typist(peers, 1)
        ada.ask(text, "main.py", len(text))
        await eventually(lambda: (ada.reply() or {}).get("done") is True, 10)
        assert ada.reply()["text"].startswith("oice_total")  # type: ignore[index]


async def test_each_typists_reply_is_paced_on_its_own_first_characters_at_once() -> None:
    sent: list[tuple[int, str, float]] = []
    clock = asyncio.get_running_loop().time
    streams = {c: ReplyStream(c, 0.1, lambda client, m: sent.append((client, m[REPLY]["text"], clock())), clock)
               for c in (1, 2)}
    start = clock()
    assert streams[1].put({"id": "a", "text": "s", "done": False})  # the first characters: at once
    assert streams[2].put({"id": "b", "text": "x", "done": False})  # another typist: its own pace
    assert not streams[1].put({"id": "a", "text": "su", "done": False})  # within 100 ms: waits
    assert not streams[1].put({"id": "a", "text": "sum", "done": False})  # replaces what waits
    await asyncio.sleep(0.15)
    assert [(c, t) for c, t, _ in sent] == [(1, "s"), (2, "x"), (1, "sum")]
    assert sent[2][2] - start >= 0.099  # the latest text, once the gap was over
    assert not streams[1].put({"id": "a", "text": "sum(x)", "done": True})  # the end waits its turn too
    await asyncio.sleep(0.15)
    assert sent[-1][:2] == (1, "sum(x)")  # and always goes
    # A new request's first characters go at once, whatever the pace of the last one.
    assert streams[1].put({"id": "c", "text": "l", "done": False})
    assert not streams[1].put({"id": "c", "text": "le", "done": False})
    streams[1].drop()  # withdrawn: what waited never goes
    await asyncio.sleep(0.15)
    assert sent[-1][:2] == (1, "l")
    # A refusal (an end with no text) is not made to wait.
    assert streams[1].put({"id": "d", "text": "", "done": True, "error": "off"})


async def test_a_long_stream_reaches_the_typist_at_most_ten_times_a_second(
    room: Any, stub: OpenAIStubServer
) -> None:
    peers, agent, ws = room
    stub.script(Reply(tokens=[f"t{i}" for i in range(40)], delay=0.02))  # ~0.8 s of tokens
    ada = typist(peers, 1)
    arrivals: list[float] = []
    channel = peers.direct[1]
    channel.subscribe(lambda _sender, _message: arrivals.append(asyncio.get_running_loop().time()))
    ada.ask(SOURCE, "calc.py", len(SOURCE))
    await eventually(lambda: (ada.reply() or {}).get("done") is True, 10)
    assert ada.reply()["text"] == "".join(f"t{i}" for i in range(40))[:400]  # type: ignore[index]
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
    assert len(arrivals) >= 3 and min(gaps) >= 0.09  # the hub's pace per pair: 10 a second
    assert len(arrivals) <= (arrivals[-1] - arrivals[0]) * 10 + 2


async def test_a_reply_counts_only_from_an_inline_agent_and_for_the_current_request(
    room: Any, stub: OpenAIStubServer
) -> None:
    peers, agent, ws = room
    stub.script(Reply(tokens=["sum", "(items)"], pause_after=1))
    ada = typist(peers, 1)
    rid = ada.ask(SOURCE, "calc.py", len(SOURCE))
    request = (await asyncio.to_thread(stub.wait_for_requests, 1))[0]
    await asyncio.to_thread(request.paused.wait, 10)
    await eventually(lambda: (ada.reply() or {}).get("text") == "sum", 10)
    grace = peers.direct[2]
    # Grace is no agent: her "reply" to Ada's request, however well-formed, shows nothing.
    grace.send(peers.awareness[1].client_id, {REPLY: {"id": rid, "text": "import os; os.system('x')", "done": True}})
    await eventually(lambda: typist_ignored(ada) == 1, 5)
    assert ada.reply()["text"] == "sum"  # type: ignore[index]
    request.resume.set()
    await eventually(lambda: (ada.reply() or {}).get("done") is True, 10)
    assert ada.reply()["text"] == "sum(items)"  # type: ignore[index]
    # A reply to an earlier request is not shown for a new one.
    ada.ask(SOURCE, "calc.py", len(SOURCE))
    agent_channel = peers.direct[0]
    assert agent_channel is not None
    agent_channel.send(peers.awareness[1].client_id, {REPLY: {"id": rid, "text": "stale", "done": True}})
    await eventually(lambda: typist_ignored(ada) == 2, 5)
    assert ada.reply() is None or ada.reply()["text"] != "stale"  # type: ignore[index]


def typist_ignored(t: InlineTypist) -> int:
    return t.inbox.ignored
