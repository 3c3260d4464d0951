"""The agent loop on a shared doc: chat requests, one model call, streaming, errors, limits, privacy.

Peers are pycrdt Docs linked in-process; the model is the real openai SDK against the local stub.
"""

from __future__ import annotations

import asyncio

import pycrdt

from collab.ai.agent import Agent, AgentConfig
from collab.ai.backend import ChatRequest
from collab.ai.limits import RoomLimits
from collab.ai.openai_backend import OpenAIBackend
from collab.workspace import AI_USAGE as USAGE
from collab.workspace import LOCAL_MODELS_ONLY, SETTINGS, Workspace, cursor_json, presence
from tests.ai.linked import LinkedPeers
from tests.support.openai_stub_server import OpenAIStubServer, Reply
from tests.support.waiting import eventually


def replies(ws: Workspace) -> list[pycrdt.Map]:
    return [m for m in ws.chat if isinstance(m, pycrdt.Map) and m.get("kind") == "ai"]


async def released(stub: OpenAIStubServer, index: int = 0) -> None:
    request = (await asyncio.to_thread(stub.wait_for_requests, index + 1))[index]
    request.resume.set()


async def test_two_watchers_see_the_same_partial_answer_and_the_room_pays_once(stub, backend) -> None:
    peers = LinkedPeers(3)
    ann, bob = Workspace(peers.docs[0]), Workspace(peers.docs[1])
    stub.script(Reply(tokens=["The ", "answer ", "is ", "42", "."], pause_after=2))
    async with Agent(peers.docs[2], peers.awareness[2], backend) as agent:
        asked = ann.post_chat("ann", "@ai what is the answer?")
        request = (await asyncio.to_thread(stub.wait_for_requests, 1))[0]
        await asyncio.to_thread(request.paused.wait, 10)
        await eventually(lambda: len(replies(bob)) == 1 and str(replies(bob)[0]["text"]) == "The answer ")
        # Mid-stream, both watchers hold the same partial text of the same reply.
        assert [str(m["text"]) for m in replies(ann)] == ["The answer "]
        assert replies(ann)[0]["status"] == "streaming"
        request.resume.set()
        await agent.idle()
    for ws in (ann, bob):
        (reply,) = replies(ws)
        assert str(reply["text"]) == "The answer is 42."
        assert reply["reply_to"] == asked and reply["author"] == "ai" and reply["status"] == "done"
        assert reply["model"] == "stub-model"
    assert len(stub.requests) == 1 and agent.model_calls == 1
    sent = stub.requests[0].body
    assert sent["stream"] is True and sent["model"] == "stub-model"
    assert "what is the answer?" in sent["messages"][-1]["content"]
    # Usage is measured and shared with the room.
    usage = bob.doc.get(USAGE, type=pycrdt.Map)["ai"]
    assert usage["requests"] == 1 and usage["completion_tokens"] == 5 and usage["prompt_tokens"] > 0
    assert replies(bob)[0]["usage"]["ttft_ms"] is not None


async def test_speaks_only_when_addressed(stub, backend) -> None:
    peers = LinkedPeers(2)
    ann = Workspace(peers.docs[0])
    async with Agent(peers.docs[1], peers.awareness[1], backend, AgentConfig(name="robo")) as agent:
        ann.post_chat("ann", "what does the ai think? mail me at ann@robo.example")
        ann.post_chat("ann", "hey @robot, not you")
        await agent.idle()
        assert replies(ann) == [] and stub.requests == []
        ann.post_chat("ann", "@Robo please review")
        await agent.idle()
    assert len(replies(ann)) == 1 and len(stub.requests) == 1


async def test_presence_shows_name_colour_backend_and_model(backend) -> None:
    peers = LinkedPeers(2)
    async with Agent(peers.docs[1], peers.awareness[1], backend, AgentConfig(name="pair", color="#123456")):
        state = peers.awareness[0].states[peers.docs[1].client_id]
    assert state["user"] == {"name": "pair", "color": "#123456", "colorLight": "#12345633"}
    assert state["agent"]["backend"] == "openai:stub-model" and state["agent"]["model"] == "stub-model"


async def test_a_stream_that_dies_midway_becomes_a_visible_error(stub, backend) -> None:
    peers = LinkedPeers(2)
    ann = Workspace(peers.docs[0])
    stub.script(Reply(tokens=["Partial", " answer", " lost"], drop_after=2),
                Reply(tokens=["x"], error_after=0, error_message="model overloaded"),
                Reply(status=500, error_message="boom"))
    async with Agent(peers.docs[1], peers.awareness[1], backend) as agent:
        for _ in range(3):
            ann.post_chat("ann", "@ai go")
            await agent.idle()
    first, second, third = replies(ann)
    assert str(first["text"]).startswith("Partial answer") and first["status"] == "error"
    assert "failed" in str(first["text"]) and "connection" in first["error"]
    assert "model overloaded" in str(second["text"]) and second["status"] == "error"
    assert "500" in str(third["text"]) and third["status"] == "error"
    assert len(stub.requests) == 3  # no silent retries: each failure is one call, shown
    assert peers.docs[0].get(USAGE, type=pycrdt.Map)["ai"]["errors"] == 3


async def test_a_stalled_stream_times_out_and_the_request_is_closed(stub, backend) -> None:
    peers = LinkedPeers(2)
    ann = Workspace(peers.docs[0])
    stub.script(Reply(tokens=["Thinking", " very", " hard"], hang_after=1))
    config = AgentConfig(idle_timeout=0.3)
    async with Agent(peers.docs[1], peers.awareness[1], backend, config) as agent:
        ann.post_chat("ann", "@ai hello?")
        await agent.idle()
    (reply,) = replies(ann)
    assert reply["status"] == "error" and "stalled" in str(reply["text"])
    assert str(reply["text"]).startswith("Thinking")
    request = stub.requests[0]
    assert await asyncio.to_thread(request.finished.wait, 10) and request.disconnected


async def test_rate_limit_is_explained_in_the_chat(stub, backend) -> None:
    peers = LinkedPeers(2)
    ann = Workspace(peers.docs[0])
    config = AgentConfig(limits=RoomLimits(requests_per_minute=1))
    async with Agent(peers.docs[1], peers.awareness[1], backend, config) as agent:
        ann.post_chat("ann", "@ai one")
        await agent.idle()
        ann.post_chat("ann", "@ai two")
        await agent.idle()
    first, second = replies(ann)
    assert first["status"] == "done"
    assert second["status"] == "refused" and "1 AI requests in the last minute (limit 1)" in str(second["text"])
    assert len(stub.requests) == 1


async def test_token_budget_per_hour(stub, backend) -> None:
    peers = LinkedPeers(2)
    ann = Workspace(peers.docs[0])
    stub.default = Reply(tokens=["ok"], usage=(50, 10))
    config = AgentConfig(limits=RoomLimits(tokens_per_hour=100))
    async with Agent(peers.docs[1], peers.awareness[1], backend, config) as agent:
        for text in ("@ai a", "@ai b", "@ai c"):
            ann.post_chat("ann", text)
            await agent.idle()
    statuses = [r["status"] for r in replies(ann)]
    assert statuses == ["done", "done", "refused"]
    assert "120 AI tokens in the last hour (limit 100)" in str(replies(ann)[2]["text"])


async def test_local_models_only_room_refuses_a_cloud_backend(stub) -> None:
    peers = LinkedPeers(2)
    ann = Workspace(peers.docs[0])
    peers.docs[0].get(SETTINGS, type=pycrdt.Map)[LOCAL_MODELS_ONLY] = True
    cloud = OpenAIBackend.openai("gpt-cloud", base_url=stub.base_url, api_key="sk-test")
    cloud.local = False  # as if base_url were api.openai.com: nothing may reach it
    async with Agent(peers.docs[1], peers.awareness[1], cloud) as agent:
        ann.post_chat("ann", "@ai summarise secrets.py")
        await agent.idle()
    (reply,) = replies(ann)
    assert reply["status"] == "refused"
    assert "local models only" in str(reply["text"]) and "openai:gpt-cloud" in str(reply["text"])
    assert stub.requests == []
    await cloud.aclose()


async def test_local_models_only_room_is_served_by_a_local_backend(stub, backend) -> None:
    peers = LinkedPeers(2)
    ann = Workspace(peers.docs[0])
    peers.docs[0].get(SETTINGS, type=pycrdt.Map)[LOCAL_MODELS_ONLY] = True
    assert backend.local  # the stub listens on 127.0.0.1
    async with Agent(peers.docs[1], peers.awareness[1], backend) as agent:
        ann.post_chat("ann", "@ai hi")
        await agent.idle()
    assert replies(ann)[0]["status"] == "done" and len(stub.requests) == 1


async def test_two_agents_in_a_room_answer_once(stub, backend) -> None:
    peers = LinkedPeers(3)
    ann = Workspace(peers.docs[0])
    second = OpenAIBackend.openai("stub-model", base_url=stub.base_url, api_key="sk-test")
    async with Agent(peers.docs[1], peers.awareness[1], backend) as a1, \
            Agent(peers.docs[2], peers.awareness[2], second) as a2:
        ann.post_chat("ann", "@ai which of you answers?")
        await a1.idle()
        await a2.idle()
    assert len(replies(ann)) == 1 and len(stub.requests) == 1
    assert a1.model_calls + a2.model_calls == 1
    await second.aclose()


async def test_lost_claim_cancels_the_stream_and_removes_the_partial_reply(stub, backend) -> None:
    peers = LinkedPeers(2)
    ann = Workspace(peers.docs[0])
    stub.script(Reply(tokens=["a", "b", "c"], pause_after=1))
    async with Agent(peers.docs[1], peers.awareness[1], backend) as agent:
        asked = ann.post_chat("ann", "@ai race")
        request = (await asyncio.to_thread(stub.wait_for_requests, 1))[0]
        await asyncio.to_thread(request.paused.wait, 10)
        # Another agent's concurrent claim won the Y.Map conflict.
        next(m for m in ann.chat if m.get("id") == asked)["claimed_by"] = "other#1"
        await agent.idle()
    assert replies(ann) == []
    assert await asyncio.to_thread(request.finished.wait, 10) and request.disconnected


async def test_context_carries_the_askers_file_selection_and_related_files(stub, backend) -> None:
    peers = LinkedPeers(2)
    ann = Workspace(peers.docs[0])
    ann.write("geometry.py", "def area(w, h):\n    return w * h\n\ndef perimeter(w, h):\n    return 2 * (w + h)\n")
    ann.write("shapes.py", "from geometry import area\n\nclass Square:\n    def size(self):\n        return area(self.s, self.s)\n")
    ann.write("unrelated.txt", "shopping list: milk, eggs\n")
    text = ann.text("geometry.py")
    start = str(text).index("def perimeter")
    peers.awareness[0].set_local_state(
        presence("ann", "#ff0000", file="geometry.py",
                 cursor=(cursor_json(text, start), cursor_json(text, start + len("def perimeter"))))
    )
    seen: list[ChatRequest] = []
    async with Agent(peers.docs[1], peers.awareness[1], backend) as agent:
        real_chat = backend.chat
        backend.chat = lambda request: (seen.append(request), real_chat(request))[1]  # type: ignore[method-assign]
        ann.post_chat("ann", "@ai is area used anywhere?")
        await agent.idle()
    prompt = "\n".join(m["content"] for m in stub.requests[0].body["messages"])
    assert "ann is in geometry.py, line 4" in prompt
    assert "has selected:\n```\ndef perimeter" in prompt
    assert "File shapes.py" in prompt and "unrelated.txt" not in prompt
    assert [d.path for d in seen[0].documents] == ["geometry.py", "shapes.py"]


async def test_requests_made_before_the_agent_joined_are_answered_once(stub, backend) -> None:
    peers = LinkedPeers(2)
    ann = Workspace(peers.docs[0])
    ann.post_chat("ann", "@ai are you there?")
    async with Agent(peers.docs[1], peers.awareness[1], backend) as agent:
        await agent.idle()
    async with Agent(peers.docs[1], peers.awareness[1], backend) as again:
        await again.idle()
    assert len(replies(ann)) == 1 and len(stub.requests) == 1
