"""Suggestions: requested at a cursor, streamed by the agent, accepted or rejected by anyone, stale on edits."""

from __future__ import annotations

import asyncio

import pycrdt
import pytest

from collab.ai.agent import Agent
from collab.ai.openai_backend import OpenAIBackend
from collab.ai.suggestions import SuggestionError, accept, reject, request_suggestion
from collab.workspace import Workspace
from tests.ai.linked import LinkedPeers
from tests.support.openai_stub_server import Reply
from tests.support.waiting import eventually

SOURCE = "def area(w, h):\n    return \n\nprint(area(2, 3))\n"
CURSOR = SOURCE.index("return ") + len("return ")


def entry(ws: Workspace, sid: str) -> pycrdt.Map:
    value = ws.suggestions[sid]
    assert isinstance(value, pycrdt.Map)
    return value


async def test_suggestion_accepted_by_someone_else_lands_in_the_file_with_provenance(stub, backend) -> None:
    peers = LinkedPeers(3)
    ann, bob = Workspace(peers.docs[0]), Workspace(peers.docs[1])
    ann.write("geo.py", SOURCE)
    stub.script(Reply(tokens=["w", " *", " h"], pause_after=1))
    async with Agent(peers.docs[2], peers.awareness[2], backend) as agent:
        sid = request_suggestion(ann, "geo.py", CURSOR, requested_by="ann")
        request = (await asyncio.to_thread(stub.wait_for_requests, 1))[0]
        await asyncio.to_thread(request.paused.wait, 10)
        await eventually(lambda: str(entry(bob, sid)["text"]) == "w")
        assert entry(bob, sid)["status"] == "streaming"
        with pytest.raises(SuggestionError, match="only a ready suggestion"):
            accept(bob, sid, decided_by="bob")
        # Someone types elsewhere in the file: the anchor follows, the suggestion stays valid.
        ann.text("geo.py").insert(0, "# geometry\n")
        request.resume.set()
        await agent.idle()
    assert entry(bob, sid)["status"] == "ready" and str(entry(bob, sid)["text"]) == "w * h"
    accept(bob, sid, decided_by="bob")
    expected = "# geometry\n" + SOURCE[:CURSOR] + "w * h" + SOURCE[CURSOR:]
    assert ann.read("geo.py") == expected == bob.read("geo.py")
    record = entry(ann, sid)
    assert (record["status"], record["model"], record["requested_by"], record["decided_by"]) == (
        "accepted", "stub-model", "ann", "bob")
    assert len(stub.requests) == 1
    with pytest.raises(SuggestionError, match="already accepted"):
        reject(ann, sid, decided_by="ann")


async def test_chat_model_completes_with_the_cursor_marked(stub, backend) -> None:
    peers = LinkedPeers(2)
    ann = Workspace(peers.docs[0])
    ann.write("geo.py", SOURCE)
    stub.script(Reply(tokens=["w * h"]))
    async with Agent(peers.docs[1], peers.awareness[1], backend) as agent:
        request_suggestion(ann, "geo.py", CURSOR, requested_by="ann")
        await agent.idle()
    body = stub.requests[0]
    assert body.path == "/v1/chat/completions"
    assert "    return <CURSOR>\n\nprint(area(2, 3))" in body.body["messages"][-1]["content"]


async def test_fill_in_the_middle_sends_prefix_and_suffix(stub) -> None:
    fim = OpenAIBackend.ollama("qwen2.5-coder", base_url=stub.base_url)
    peers = LinkedPeers(2)
    ann = Workspace(peers.docs[0])
    ann.write("geo.py", SOURCE)
    stub.script(Reply(tokens=["w * h"]))
    async with Agent(peers.docs[1], peers.awareness[1], fim) as agent:
        sid = request_suggestion(ann, "geo.py", CURSOR, requested_by="ann")
        await agent.idle()
    await fim.aclose()
    sent = stub.requests[0]
    assert sent.path == "/v1/completions"
    assert sent.body["prompt"] == SOURCE[:CURSOR] and sent.body["suffix"] == SOURCE[CURSOR:]
    assert entry(ann, sid)["status"] == "ready" and entry(ann, sid)["model"] == "qwen2.5-coder"


async def test_edit_inside_the_anchored_region_marks_stale_and_closes_the_request(stub, backend) -> None:
    peers = LinkedPeers(3)
    ann, bob = Workspace(peers.docs[0]), Workspace(peers.docs[1])
    ann.write("geo.py", SOURCE)
    stub.script(Reply(tokens=["w", " *", " h", " # done"], pause_after=2))
    async with Agent(peers.docs[2], peers.awareness[2], backend) as agent:
        sid = request_suggestion(ann, "geo.py", CURSOR, requested_by="ann")
        request = (await asyncio.to_thread(stub.wait_for_requests, 1))[0]
        await asyncio.to_thread(request.paused.wait, 10)
        # Bob edits the very line the suggestion is anchored in.
        bob.text("geo.py").insert(CURSOR - 1, "ed")
        await agent.idle()
        assert await asyncio.to_thread(request.finished.wait, 10)
    assert request.disconnected and not request.completed  # the HTTP request was closed mid-stream
    assert request.tokens_sent == 2
    record = entry(ann, sid)
    assert record["status"] == "stale" and "edited" in record["error"]
    with pytest.raises(SuggestionError, match="stale"):
        accept(ann, sid, decided_by="ann")
    reject(ann, sid, decided_by="ann")
    assert entry(bob, sid)["status"] == "rejected"


async def test_rejecting_while_streaming_stops_the_model(stub, backend) -> None:
    peers = LinkedPeers(2)
    ann = Workspace(peers.docs[0])
    ann.write("geo.py", SOURCE)
    stub.script(Reply(tokens=["a", "b", "c"], pause_after=1))
    async with Agent(peers.docs[1], peers.awareness[1], backend) as agent:
        sid = request_suggestion(ann, "geo.py", CURSOR, requested_by="ann")
        request = (await asyncio.to_thread(stub.wait_for_requests, 1))[0]
        await asyncio.to_thread(request.paused.wait, 10)
        reject(ann, sid, decided_by="ann")
        await agent.idle()
        assert await asyncio.to_thread(request.finished.wait, 10)
    assert request.disconnected
    assert entry(ann, sid)["status"] == "rejected" and entry(ann, sid)["decided_by"] == "ann"
    assert ann.read("geo.py") == SOURCE


async def test_backend_failure_is_a_suggestion_error_with_a_reason(stub, backend) -> None:
    peers = LinkedPeers(2)
    ann = Workspace(peers.docs[0])
    ann.write("geo.py", SOURCE)
    stub.script(Reply(status=503, error_message="no capacity"))
    async with Agent(peers.docs[1], peers.awareness[1], backend) as agent:
        sid = request_suggestion(ann, "geo.py", CURSOR, requested_by="ann")
        await agent.idle()
    record = entry(ann, sid)
    assert record["status"] == "error" and "503" in record["error"] and "no capacity" in record["error"]


async def test_unicode_before_the_anchor(stub, backend) -> None:
    peers = LinkedPeers(2)
    ann = Workspace(peers.docs[0])
    source = "naïve = 'héllo'\nx = \n"
    cursor = source.index("x = ") + 4
    ann.write("u.py", source)
    stub.script(Reply(tokens=["naïve"]))
    async with Agent(peers.docs[1], peers.awareness[1], backend) as agent:
        sid = request_suggestion(ann, "u.py", cursor, requested_by="ann")
        await agent.idle()
    assert accept(ann, sid, decided_by="ann") == cursor
    assert ann.read("u.py") == "naïve = 'héllo'\nx = naïve\n"
