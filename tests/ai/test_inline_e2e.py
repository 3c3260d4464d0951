"""Inline completions through a real hub (``collab serve``): each reply is a direct message the hub
relays to its typist alone (another typist's provider receives none at all), in plaintext and
encrypted rooms; an encrypted room keeps them out of the store, the logs and the frames anyone
could record; and many typists each get only their own."""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
from typing import Any, AsyncIterator

import pytest

from collab.ai.agent import Agent, AgentConfig
from collab.ai.inline_client import REPLY, InlineTypist
from collab.ai.openai_backend import OpenAIBackend
from collab.client.encrypted import EncryptedProvider
from collab.client.session import Session
from collab.commands.new import create_encrypted_room
from collab.crypto.links import write_link
from collab.protocol.relay_frames import FrameType
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
        async with Agent(session.doc, session.awareness, backend, AgentConfig(),
                         send_direct=session.provider.send_direct) as agent:
            yield agent


def record_direct(session: Session) -> list[tuple[int, dict[str, Any]]]:
    """Every direct message the session's provider receives, whatever it is: (sender, message)."""
    got: list[tuple[int, dict[str, Any]]] = []
    session.provider.on_direct(lambda sender, message: got.append((sender, message)))
    return got


async def two_typists_and_an_agent(link: str, backend: OpenAIBackend) -> None:
    async with Session.connect(link, name="ann") as ann, Session.connect(link, name="bob") as bob, \
            agent_in(link, backend) as agent:
        to_ann, to_bob = record_direct(ann), record_direct(bob)
        ann.workspace.write("calc.py", "# FILEMARK1\ndef total(items):\n    return ")
        bob.workspace.write("other.py", "# FILEMARK2\nvalue = ")
        await eventually(lambda: "calc.py" in agent.ws and "other.py" in agent.ws, 15)
        typist = InlineTypist(ann.awareness, ann.provider.on_direct)
        for _ in range(3):
            reply = await ask_and_wait(typist, ann, "calc.py")
            assert reply["text"] == "QUAGGASECRET1()"
        assert len(to_ann) >= 3 and all(sender == agent.doc.client_id for sender, _ in to_ann)
        assert {m[REPLY]["id"] for _, m in to_ann} >= {reply["id"]}
        assert to_bob == []  # none of Ann's completions reached Bob's provider
        # Bob's own completion reaches Bob, and Ann none of it.
        seen_by_ann = len(to_ann)
        mine = await ask_and_wait(InlineTypist(bob.awareness, bob.provider.on_direct), bob, "other.py")
        assert mine["text"] == "QUAGGASECRET2()"
        assert to_bob and {m[REPLY]["id"] for _, m in to_bob} == {mine["id"]}
        assert len(to_ann) == seen_by_ann
        # Nothing of a reply is in the agent's presence as everyone receives it.
        assert "QUAGGA" not in str(bob.awareness.states.get(agent.doc.client_id))
        assert agent.inline.model_calls == 4


async def test_a_plaintext_rooms_completion_reaches_only_its_typist(
    hub: HubProcess, stub: OpenAIStubServer, backend: OpenAIBackend
) -> None:
    stub.respond_with(answer_for)  # type: ignore[arg-type]
    await two_typists_and_an_agent(f"{hub.url}/s/direct-inline", backend)


async def test_an_encrypted_rooms_completion_reaches_only_its_typist(
    hub: HubProcess, stub: OpenAIStubServer, backend: OpenAIBackend
) -> None:
    stub.respond_with(answer_for)  # type: ignore[arg-type]
    keys = create_encrypted_room(hub.url)
    await two_typists_and_an_agent(write_link(hub.url, keys), backend)


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
        # And what Ann's connection carries, where the replies are: DIRECT_RELAY frames from the hub.
        ann_frames: list[bytes] = []
        assert isinstance(ann.provider, EncryptedProvider)
        ann.provider.on_frame = lambda _way, frame: ann_frames.append(frame)
        ann.workspace.write("calc.py", "# FILEMARK1\ndef total(items):\n    return ")
        await eventually(lambda: "calc.py" in agent.ws, 15)
        typist = InlineTypist(ann.awareness, ann.provider.on_direct)
        to_bob = record_direct(bob)
        to_ann = record_direct(ann)
        for _ in range(5):  # a burst of pauses
            reply = await ask_and_wait(typist, ann, "calc.py")
            assert reply["text"] == "QUAGGASECRET1()"
        assert to_bob == []  # not Bob's: his provider received no direct message at all
        assert agent.inline.model_calls == 5 == len(stub.requests)
        await ann.wait_idle()
        recorder.cancel()
        await asyncio.gather(recorder, return_exceptions=True)
    assert len(recorded) >= 5  # Ann's requests went by in presence
    relayed = [f for f in ann_frames if f[0] == FrameType.DIRECT_RELAY]
    assert len(relayed) == len(to_ann) >= 5  # every reply came sealed in one of these
    frames = b"".join(recorded + ann_frames)
    stored = data_bytes(hub.data)
    for word in (b"QUAGGA", b"SECRET1", b"FILEMARK1"):
        assert word not in frames
        assert word not in stored
        assert word.decode() not in hub.log()


@pytest.mark.parametrize("kind", ["encrypted", "plaintext"])
async def test_ten_typists_each_get_only_their_own_completions(
    hub: HubProcess, stub: OpenAIStubServer, backend: OpenAIBackend, kind: str
) -> None:
    link = write_link(hub.url, create_encrypted_room(hub.url)) if kind == "encrypted" else f"{hub.url}/s/ten-typists"
    stub.respond_with(answer_for)  # type: ignore[arg-type]
    async with contextlib.AsyncExitStack() as stack:
        sessions = [await stack.enter_async_context(Session.connect(link, name=f"t{i}")) for i in range(10)]
        agent = await stack.enter_async_context(agent_in(link, backend))
        for i, s in enumerate(sessions):
            s.workspace.write(f"f{i}.py", f"# FILEMARK{i}\nvalue_{i} = ")
        await eventually(lambda: all(f"f{i}.py" in agent.ws for i in range(10)), 20)
        # Every direct message each typist's provider receives, whatever it is.
        got = [record_direct(s) for s in sessions]

        async def typist(i: int) -> int:
            me = InlineTypist(sessions[i].awareness, sessions[i].provider.on_direct)
            random.seed(i)
            for _ in range(3):
                await asyncio.sleep(random.uniform(0.1, 0.8))  # pausing every so often, out of step
                reply = await ask_and_wait(me, sessions[i], f"f{i}.py")
                assert reply["text"] == f"QUAGGASECRET{i}()"
            return 3

        asked = sum(await asyncio.gather(*(typist(i) for i in range(10))))
        assert len(stub.requests) == asked == agent.inline.model_calls == 30
        for i, messages in enumerate(got):
            # Each typist received its own three completions and nothing of anyone else's.
            assert len({m[REPLY]["id"] for _, m in messages}) == 3
            wrong = [m[REPLY]["text"] for _, m in messages if re.search(r"SECRET(?!%d\b)\d+" % i, m[REPLY]["text"])]
            assert wrong == [], f"typist {i} received {wrong}"
            assert all(sender == agent.doc.client_id for sender, _ in messages)

