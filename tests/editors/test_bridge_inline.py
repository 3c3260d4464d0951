"""Inline completions through `collab editor` (a real process), a real hub, a real agent with the
openai backend (the real SDK) against the local streaming server; and the trash through the bridge."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, AsyncIterator

import pycrdt

from collab.ai.agent import Agent, AgentConfig
from collab.ai.openai_backend import OpenAIBackend
from collab.client.session import Session
from collab.crypto.links import write_link
from tests.e2ee.support import new_room
from tests.editors.bridge_client import BridgeClient, bridge
from tests.editors.test_bridge import change
from tests.support.hub_process import HubProcess
from tests.support.openai_stub_server import OpenAIStubServer, Reply
from tests.support.waiting import eventually

SOURCE = "def total(items):\n    return sum(items)\n\ndef twice(items):\n    return "


@contextlib.asynccontextmanager
async def room_with_agent(hub: HubProcess, stub: OpenAIStubServer) -> AsyncIterator[tuple[str, Session, Agent]]:
    link = write_link(hub.url, new_room(hub))
    backend = OpenAIBackend.openai("stub-model", base_url=stub.base_url, api_key="sk-test-not-a-real-key")
    try:
        async with Session.connect(link, name="ann") as ann, Session.connect(link, name="ai") as ai:
            ann.workspace.write("calc.py", SOURCE)
            async with Agent(ai.doc, ai.awareness, backend, AgentConfig(name="ai"), send_direct=ai.provider.send_direct) as agent:
                await eventually(lambda: "calc.py" in agent.ws, 15)
                yield link, ann, agent
    finally:
        await backend.aclose()


async def opened_at_end(b: BridgeClient, link: str) -> dict[str, Any]:
    await b.result("join", link=link, name="ed")
    opened: dict[str, Any] = await b.result("open", path="calc.py")
    assert opened["text"] == SOURCE
    enabled = await b.result("inline_enable", enabled=True, debounce_ms=50)
    assert enabled["available"] and enabled["agent"]["name"] == "ai"
    return opened


def end_of(text: str) -> dict[str, int]:
    lines = text.split("\n")
    return {"line": len(lines) - 1, "character": len(lines[-1].encode("utf-16-le")) // 2}


class Typist:
    """The editor's side of typing at the end of the file: an edit, then the cursor after it."""

    def __init__(self, b: BridgeClient, text: str) -> None:
        self.b = b
        self.text = text
        self.revision = 0

    def sync(self) -> None:
        for note in self.b.of("edit"):
            self.revision = max(self.revision, note["revision"])

    async def type(self, piece: str, cursor_back: int = 0, cursor: bool = True) -> None:
        self.sync()
        at = end_of(self.text)
        await self.b.result("edit", path="calc.py", revision=self.revision, changes=[change(at["line"], at["character"], piece)])
        self.text += piece
        if not cursor:
            return
        where = end_of(self.text)
        where["character"] -= cursor_back
        await self.b.result("cursor", path="calc.py", revision=self.revision, ranges=[{"start": where, "end": where}])


async def test_a_pause_streams_ghost_text_typing_it_keeps_the_request_and_accept_inserts_it(
    hub: HubProcess, stub: OpenAIStubServer
) -> None:
    stub.script(Reply(tokens=["um", "(items)", " * 2"], delay=0.15))
    async with room_with_agent(hub, stub) as (link, ann, agent), bridge() as b:
        await opened_at_end(b, link)
        typist = Typist(b, SOURCE)
        await typist.type("s")
        shown = await eventually(lambda: b.of("inline"), 20, what="ghost text")
        assert shown[0]["text"] == "um" and shown[0]["position"] == end_of(SOURCE + "s")
        await eventually(lambda: b.of("inline", lambda p: p["done"]), 20, what="the whole completion")
        assert b.of("inline")[-1]["text"] == "um(items) * 2"
        # Typing what it shows keeps the same request: the rest moves along, no second model call.
        await typist.type("um")
        await eventually(lambda: b.of("inline")[-1]["text"] == "(items) * 2", 10)
        assert not b.of("inline_clear") and len(stub.requests) == 1
        accepted = await b.result("inline_accept")
        assert accepted["position"] == end_of(SOURCE + "sum(items) * 2")
        want = SOURCE + "sum(items) * 2"
        await eventually(lambda: ann.workspace.read("calc.py") == want, 15, what="the completion for everyone")
        assert b.of("inline_clear")[-1]["reason"] == "accepted"
        record = ann.doc.get("ai_assisted", type=pycrdt.Map)[accepted["id"]]
        assert record["by"] == "ed" and record["model"] == "stub-model" and record["file"] == "calc.py"
        assert record["length"] == len("(items) * 2")
        # Ann saw no request and no reply addressed to her, and nothing of it is in the document's files.
        assert agent.inline.model_calls == 1


async def test_a_mismatching_keystroke_cancels_and_the_model_stream_is_closed(
    hub: HubProcess, stub: OpenAIStubServer
) -> None:
    stub.script(Reply(tokens=["um", "(items)"] + [" + 0"] * 40, delay=0.1))
    async with room_with_agent(hub, stub) as (link, ann, agent), bridge() as b:
        await opened_at_end(b, link)
        typist = Typist(b, SOURCE)
        await typist.type("s")
        await eventually(lambda: b.of("inline"), 20, what="ghost text")
        await typist.type("x")  # not what it shows
        await eventually(lambda: b.of("inline_clear"), 10)
        assert b.of("inline_clear")[0]["reason"] == "typed"
        await eventually(lambda: stub.requests[0].disconnected, 10, what="the model's stream closed")
        assert not stub.requests[0].completed


async def bracket_typed_into_the_completion(b: BridgeClient, link: str) -> tuple[Typist, dict[str, Any]]:
    """``sum``, the completion ``(items) * 2``, then ``(`` as an auto-pairing editor types it: ``()``
    with the cursor between. The completion stays: its last ``inline``."""
    await opened_at_end(b, link)
    typist = Typist(b, SOURCE)
    await typist.type("sum")
    await eventually(lambda: b.of("inline", lambda p: p["done"]), 20, what="the completion")
    assert b.of("inline")[-1]["text"] == "(items) * 2"
    await typist.type("()", cursor_back=1)
    await eventually(lambda: b.of("inline")[-1]["text"] == "items) * 2", 10)
    assert not b.of("inline_clear") and b.of("inline")[-1]["replace"] == 1
    return typist, b.of("inline")[-1]


async def test_an_auto_paired_bracket_keeps_a_completion_that_starts_with_it(
    hub: HubProcess, stub: OpenAIStubServer
) -> None:
    stub.script(Reply(tokens=["(items)", " * 2"]))
    async with room_with_agent(hub, stub) as (link, ann, agent), bridge() as b:
        await bracket_typed_into_the_completion(b, link)
        await b.result("inline_accept")
        want = SOURCE + "sum(items) * 2"
        await eventually(lambda: ann.workspace.read("calc.py") == want, 15, what="one closing bracket, not two")


async def test_the_trash_lists_and_restores_through_the_bridge(hub: HubProcess) -> None:
    link = write_link(hub.url, new_room(hub))
    async with Session.connect(link, name="ann") as ann, bridge() as b:
        ann.workspace.write("notes.md", "keep me\n")
        await b.result("join", link=link, name="ed")
        await eventually(lambda: "notes.md" in ann.workspace, 5)
        await b.result("delete", path="notes.md")
        await eventually(lambda: "notes.md" not in ann.workspace, 15)
        entries = (await b.result("trash"))["entries"]
        assert [(e["path"], e["by"]) for e in entries] == [("notes.md", "ed")]
        restored = await b.result("restore", id=entries[0]["id"])
        assert restored["path"] == "notes.md"
        await eventually(lambda: "notes.md" in ann.workspace and ann.workspace.read("notes.md") == "keep me\n", 15)
        assert (await b.result("trash"))["entries"] == []
        missing = await b.call("restore", id="nope")
        assert "trash" in missing["error"]["message"]


async def test_an_editor_that_inserts_the_completion_itself_records_it_as_ai_assisted(
    hub: HubProcess, stub: OpenAIStubServer
) -> None:
    """VS Code's Tab inserts the completion (over the auto-closed bracket), then says so: inserted."""
    stub.script(Reply(tokens=["(items)", " * 2"]))
    async with room_with_agent(hub, stub) as (link, ann, agent), bridge() as b:
        typist, shown = await bracket_typed_into_the_completion(b, link)
        at = shown["position"]
        typist.sync()
        await b.result("edit", path="calc.py", revision=typist.revision,
                       changes=[change(at["line"], at["character"], "items) * 2", end=(at["line"], at["character"] + 1))])
        accepted = await b.result("inline_accept", id=shown["id"], inserted=True)
        want = SOURCE + "sum(items) * 2"
        assert accepted["position"] == end_of(want)
        await eventually(lambda: ann.workspace.read("calc.py") == want, 15)
        await eventually(lambda: shown["id"] in ann.doc.get("ai_assisted", type=pycrdt.Map), 15)
        record = ann.doc.get("ai_assisted", type=pycrdt.Map)[shown["id"]]
        assert record["length"] == len("items) * 2") and record["by"] == "ed"
        again = await b.call("inline_accept", id=shown["id"], inserted=True)
        assert "no inline completion" in again["error"]["message"]


async def test_keystrokes_inside_the_pause_ask_nothing_and_one_pause_asks_once(
    hub: HubProcess, stub: OpenAIStubServer
) -> None:
    """Typing every 80 ms inside a 600 ms pause never asks; stopping asks once (at the end of what was
    typed: an editor that sends no cursor requests has its cursor there)."""
    async with room_with_agent(hub, stub) as (link, ann, agent), bridge() as b:
        await b.result("join", link=link, name="ed")
        await b.result("open", path="calc.py")
        await b.result("inline_enable", debounce_ms=600)  # the adaptive one's longest (a loaded machine stalls)
        typist = Typist(b, SOURCE)
        for piece in "total_of_items":
            await typist.type(piece, cursor=False)
            await asyncio.sleep(0.08)
        assert stub.requests == [] and agent.inline.model_calls == 0
        shown = await eventually(lambda: b.of("inline"), 20, what="a completion after the pause")
        assert shown[0]["position"] == end_of(SOURCE + "total_of_items")
        await asyncio.sleep(1.0)
        assert len(stub.requests) == 1 and agent.inline.model_calls == 1


def test_the_pause_adapts_to_the_typists_rhythm() -> None:
    from collab.editor.inline import AdaptiveDebounce

    pause = AdaptiveDebounce()
    assert pause.delay() == 0.3  # no rhythm yet
    for n in range(20):
        pause.keystroke(n * 0.1)  # 100 ms between keys
    assert abs(pause.delay() - 0.25) < 1e-9
    for n in range(20):
        pause.keystroke(10 + n * 0.02)  # very fast: never under 200 ms
    assert pause.delay() == 0.2
    slow = AdaptiveDebounce()
    for n in range(20):
        slow.keystroke(n * 1.0)  # one key a second: never over 600 ms
    assert slow.delay() == 0.6
    assert AdaptiveDebounce(fixed=0.05).delay() == 0.05
