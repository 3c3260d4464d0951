"""Inline completions through a real hub: an encrypted room keeps them out of the store, the logs and
the frames anyone could record, and many typists each get only their own."""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
from typing import Any, AsyncIterator

from collab.ai.agent import Agent, AgentConfig
from collab.ai.inline_client import REPLIES, InlineTypist, reply_to
from collab.ai.openai_backend import OpenAIBackend
from collab.client.session import Session
from collab.commands.new import create_encrypted_room
from collab.crypto.links import write_link
from tests.e2ee.support import data_bytes, raw_client, room_url
from tests.support.hub_process import HubProcess
from tests.support.openai_stub_server import OpenAIStubServer, Reply
from tests.support.waiting import eventually

MARK = re.compile(r"FILEMARK(\d+)")


def answer_for(body: dict[str, Any]) -> Reply:
    """The stub's reply names the file it was asked about, so a misaddressed reply shows."""
    prompt = str(body.get("messages", [{}])[-1].get("content", "")) if "messages" in body else str(body.get("prompt"))
    found = MARK.findall(prompt.rsplit("<CURSOR>", 1)[0])
    return Reply(tokens=["QUAGGA", f"SECRET{found[-1] if found else 'none'}", "()"], delay=0.01)


@contextlib.asynccontextmanager
async def agent_in(link: str, backend: OpenAIBackend) -> AsyncIterator[Agent]:
    async with Session.connect(link, name="ai") as session:
        async with Agent(session.doc, session.awareness, backend, AgentConfig()) as agent:
            yield agent


async def ask_and_wait(typist: InlineTypist, session: Session, path: str) -> dict[str, Any]:
    text = session.workspace.read(path)
    typist.ask(text, path, len(text))
    await eventually(lambda: (typist.reply() or {}).get("done") is True, 20)
    reply = typist.reply()
    assert reply is not None
    typist.clear()
    return reply


async def test_an_encrypted_room_keeps_completions_out_of_the_store_logs_and_frames(
    hub: HubProcess, stub: OpenAIStubServer, backend: OpenAIBackend
) -> None:
    keys = create_encrypted_room(hub.url)
    link = write_link(hub.url, keys)
    # The stub hands its responder the request body (its annotation says the request).
    stub.respond_with(answer_for)  # type: ignore[arg-type]
    recorded: list[bytes] = []
    async with raw_client(room_url(hub, keys)) as spy, Session.connect(link, name="ann") as ann, \
            Session.connect(link, name="bob") as bob, agent_in(link, backend) as agent:
        await spy.hello(keys.read_only())  # a reader: it gets every frame the hub relays, as anyone could record them

        async def record() -> None:
            while True:
                recorded.append(await spy.ws.recv())  # type: ignore[arg-type]

        recorder = asyncio.create_task(record())
        ann.workspace.write("calc.py", "# FILEMARK1\ndef total(items):\n    return ")
        await eventually(lambda: "calc.py" in agent.ws, 15)
        typist = InlineTypist(ann.awareness)
        for _ in range(5):  # a burst of pauses
            reply = await ask_and_wait(typist, ann, "calc.py")
            assert reply["text"] == "QUAGGASECRET1()"
            assert reply_to(bob.awareness.states, bob.doc.client_id, reply["id"]) is None  # not Bob's to show
        assert agent.inline.model_calls == 5 == len(stub.requests)
        await ann.wait_idle()
        recorder.cancel()
        await asyncio.gather(recorder, return_exceptions=True)
    assert len(recorded) > 10  # presence frames went by
    frames = b"".join(recorded)
    stored = data_bytes(hub.data)
    for word in (b"QUAGGA", b"SECRET1", b"FILEMARK1"):
        assert word not in frames
        assert word not in stored
        assert word.decode() not in hub.log()


async def test_ten_typists_each_get_only_their_own_completions(
    hub: HubProcess, stub: OpenAIStubServer, backend: OpenAIBackend
) -> None:
    keys = create_encrypted_room(hub.url)
    link = write_link(hub.url, keys)
    stub.respond_with(answer_for)  # type: ignore[arg-type]
    async with contextlib.AsyncExitStack() as stack:
        sessions = [await stack.enter_async_context(Session.connect(link, name=f"t{i}")) for i in range(10)]
        agent = await stack.enter_async_context(agent_in(link, backend))
        for i, s in enumerate(sessions):
            s.workspace.write(f"f{i}.py", f"# FILEMARK{i}\nvalue_{i} = ")
        await eventually(lambda: all(f"f{i}.py" in agent.ws for i in range(10)), 20)
        # Every reply the agent publishes, as a participant sees it, is under its requester's key.
        misaddressed: list[str] = []
        owner = {s.doc.client_id: i for i, s in enumerate(sessions)}

        def check(topic: str, change: Any) -> None:
            for state in sessions[0].awareness.states.values():
                for key, reply in (state.get(REPLIES) or {}).items() if isinstance(state, dict) else ():
                    found = re.findall(r"SECRET(\d+)", str(reply.get("text", "")))
                    if found and int(found[0]) != owner.get(int(key)):
                        misaddressed.append(f"{key}: {reply.get('text')}")

        sessions[0].awareness.observe(check)

        async def typist(i: int) -> int:
            me = InlineTypist(sessions[i].awareness)
            random.seed(i)
            for _ in range(3):
                await asyncio.sleep(random.uniform(0.1, 0.8))  # pausing every so often, out of step
                reply = await ask_and_wait(me, sessions[i], f"f{i}.py")
                assert reply["text"] == f"QUAGGASECRET{i}()"
            return 3

        asked = sum(await asyncio.gather(*(typist(i) for i in range(10))))
        assert misaddressed == []
        assert len(stub.requests) == asked == agent.inline.model_calls == 30

