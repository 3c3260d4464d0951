"""A suggestion waiting for accept/reject turns stale for everyone when anyone edits its line.

Browsers mark their own edits; the agent that wrote a suggestion watches it for every other kind
of participant (`collab join` folders, API clients), from streaming until it is decided.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pycrdt
import pytest

from collab import positions
from collab.ai.agent import Agent
from collab.ai.suggestions import Region, SuggestionError, accept, reject, request_suggestion
from collab.client.session import Session
from collab.crypto.links import plaintext_link
from collab.workspace import Workspace
from tests.ai.linked import LinkedPeers
from tests.ai.test_agent_e2e import agent_in
from tests.client.join_process import JoinProcess
from tests.support.hub_process import HubProcess
from tests.support.openai_stub_server import Reply
from tests.support.waiting import eventually

SOURCE = "import math\n\ndef area(w, h):\n    return \n\nprint(area(2, 3))\n"
CURSOR = SOURCE.index("return ") + len("return ")


def status(ws: Workspace, sid: str) -> tuple[str, str]:
    entry = ws.suggestions.get(sid)
    assert isinstance(entry, pycrdt.Map)
    return str(entry.get("status")), str(entry.get("error", ""))


async def settle() -> None:
    """Let the agent run what it deferred past the transaction that showed it an edit."""
    for _ in range(5):
        await asyncio.sleep(0)


async def ready_suggestion(ws: Workspace, agent: Agent, index: int = CURSOR) -> str:
    sid = request_suggestion(ws, "geo.py", index, requested_by="ann")
    await eventually(lambda: sid in ws.suggestions and status(ws, sid)[0] == "ready", 15)
    return sid


def test_region_follows_edits_as_sticky_indices_do_until_its_line_changes() -> None:
    rng = random.Random(7)
    alphabet = "ab\né€ 😀"
    checked = 0
    for _ in range(150):
        doc = pycrdt.Doc()
        ytext = doc.get("t", type=pycrdt.Text)
        noise = ["".join(rng.choice(alphabet) for _ in range(30)) for _ in range(2)]
        ytext += noise[0] + "\nmid line\n" + noise[1]
        region = Region.lines_around(ytext, str(ytext).encode().index(b"mid") + 2)
        start = positions.sticky_at(ytext, region.start, pycrdt.Assoc.AFTER)
        end = positions.sticky_at(ytext, region.end, pycrdt.Assoc.BEFORE)
        touched: list[bool] = []
        ytext.observe(lambda event: touched.append(region.follow(event.delta)))  # noqa: B023
        for _ in range(40):
            with doc.transaction():  # several edits in one event, as a saved file makes
                for _ in range(rng.randint(1, 3)):
                    text = str(ytext)
                    at = rng.randint(0, len(text))
                    if rng.random() < 0.5 and at < len(text):
                        span = rng.randint(1, min(4, len(text) - at))
                        del ytext[positions.char_to_byte(text, at) : positions.char_to_byte(text, at + span)]
                    else:
                        piece = rng.choice(["x", "\n", "é😀", "new line\n"])
                        ytext.insert(positions.char_to_byte(text, at), piece)
            if touched[-1]:
                break  # the suggestion is stale now: its watch ends here
            # Untouched, the region still holds exactly the line, where sticky indices put it.
            assert str(ytext).encode()[region.start : region.end] == b"mid line"
            assert (region.start, region.end) == (positions.resolve(ytext, start), positions.resolve(ytext, end))
            checked += 1
    assert checked > 300  # the edits above mostly missed the line, so this compared many states


@pytest.mark.parametrize(
    ("edit", "inside"),
    [
        (lambda t: t.insert(0, "zero\n"), False),  # a line above
        (lambda t: t.insert(len(str(t)), "four\n"), False),  # a line below
        (lambda t: t.insert(str(t).index("three"), "2.5\n"), False),  # typed just after its newline
        (lambda t: t.insert(str(t).index("two") - 1, "\n1.5"), False),  # typed just before it
        (lambda t: t.insert(str(t).index("two") + 3, "!"), True),  # at its end
        (lambda t: t.insert(str(t).index("two"), "#"), True),  # at its start
        (lambda t: t.__delitem__(str(t).index("two") + 3), True),  # its newline: the next line joins it
        (lambda t: t.__delitem__(str(t).index("two") - 1), True),  # the newline before: it joins the line above
        (lambda t: t.__delitem__(slice(str(t).index("two") + 1, str(t).index("two") + 2)), True),
    ],
)
def test_region_counts_edits_on_its_line_only(edit, inside: bool) -> None:  # type: ignore[no-untyped-def]
    doc = pycrdt.Doc()
    ytext = doc.get("t", type=pycrdt.Text)
    ytext += "one\ntwo\nthree\n"
    region = Region.lines_around(ytext, 5)  # inside "two"
    seen: list[bool] = []
    ytext.observe(lambda event: seen.append(region.follow(event.delta)))
    edit(ytext)
    assert seen == [inside]


async def test_an_api_clients_edit_in_a_ready_suggestions_line_marks_it_stale_for_everyone(stub, backend) -> None:
    peers = LinkedPeers(3)
    ann, bob = Workspace(peers.docs[0]), Workspace(peers.docs[1])
    ann.write("geo.py", SOURCE)
    stub.script(Reply(tokens=["w", " *", " h"]))
    async with Agent(peers.docs[2], peers.awareness[2], backend) as agent:
        sid = await ready_suggestion(ann, agent)
        assert agent.watching == {sid}
        # Edits on other lines, one of them right above, only move the anchor.
        bob.write("geo.py", SOURCE.replace("import math", "import cmath").replace("(2, 3)", "(4, 5)"))
        bob.text("geo.py").insert(bob.read("geo.py").index("    return") - 1, "\n    # the area")
        await settle()
        assert status(ann, sid) == ("ready", "") and agent.watching == {sid}
        # Bob edits the suggestion's own line.
        bob.write("geo.py", bob.read("geo.py").replace("    return ", "    return 0 + "))
        await eventually(lambda: status(ann, sid)[0] == "stale")
        assert status(bob, sid) == ("stale", "the code at the anchor was edited")
        assert agent.watching == frozenset()
    with pytest.raises(SuggestionError, match="stale"):
        accept(ann, sid, decided_by="ann")


async def test_accepting_or_rejecting_a_ready_suggestion_closes_its_watch(stub, backend) -> None:
    peers = LinkedPeers(3)
    ann, bob = Workspace(peers.docs[0]), Workspace(peers.docs[1])
    ann.write("geo.py", SOURCE)
    stub.script(Reply(tokens=["w * h"]), Reply(tokens=["2 * 2"]))
    async with Agent(peers.docs[2], peers.awareness[2], backend) as agent:
        taken = await ready_suggestion(ann, agent)
        dropped = await ready_suggestion(ann, agent, SOURCE.index("area(2"))
        assert agent.watching == {taken, dropped}
        accept(bob, taken, decided_by="bob")  # inserts inside the watched line
        reject(ann, dropped, decided_by="ann")
        await settle()
        assert status(ann, taken)[0] == "accepted" and status(bob, dropped)[0] == "rejected"
        assert agent.watching == frozenset()
        # Decided is decided: later edits on those lines change nothing.
        bob.write("geo.py", bob.read("geo.py").replace("w * h", "w*h").replace("print(", "print (", 1))
        await settle()
        assert status(ann, taken)[0] == "accepted" and status(ann, dropped)[0] == "rejected"
    assert ann.read("geo.py") == SOURCE.replace("return ", "return w*h").replace("print(", "print (")


async def test_many_suggestions_leave_no_watch_behind(stub, backend) -> None:
    lines = [f"x{i} = \n" for i in range(15)]  # within the 20 requests a minute
    source = "".join(lines)
    peers = LinkedPeers(3)
    ann, bob = Workspace(peers.docs[0]), Workspace(peers.docs[1])
    ann.write("geo.py", source)
    stub.script(*(Reply(tokens=[f"{i}"]) for i in range(len(lines))))
    agent = Agent(peers.docs[2], peers.awareness[2], backend)
    await agent.start()
    try:
        ids = [await ready_suggestion(ann, agent, source.index(line) + len(line) - 1) for line in lines]
        assert agent.watching == set(ids)
        for n, sid in enumerate(ids[:12]):
            if n % 3 == 0:
                accept(bob, sid, decided_by="bob")
            elif n % 3 == 1:
                reject(bob, sid, decided_by="bob")
            else:
                text = bob.read("geo.py")
                bob.write("geo.py", text.replace(f"x{n} = ", f"x{n} = -"))
            await settle()
        assert agent.watching == set(ids[12:])
        assert [status(ann, sid)[0] for sid in ids[:12]] == ["accepted", "rejected", "stale"] * 4
    finally:
        await agent.stop()
    assert agent.watching == frozenset()
    # The agent left: its observers went with it, so nothing writes for it any more.
    bob.write("geo.py", bob.read("geo.py").replace("x13 = ", "x13 = -"))
    await settle()
    assert status(ann, ids[13])[0] == "ready"


async def test_an_agent_that_joins_watches_suggestions_left_ready(stub, backend) -> None:
    peers = LinkedPeers(4)
    ann, bob = Workspace(peers.docs[0]), Workspace(peers.docs[1])
    ann.write("geo.py", SOURCE)
    stub.script(Reply(tokens=["w * h"]))
    async with Agent(peers.docs[2], peers.awareness[2], backend) as first:
        sid = await ready_suggestion(ann, first)
    async with Agent(peers.docs[3], peers.awareness[3], backend) as second:
        assert second.watching == {sid}
        bob.write("geo.py", SOURCE.replace("    return ", "    return -"))
        await eventually(lambda: status(ann, sid)[0] == "stale")
    assert len(stub.requests) == 1


async def test_a_collab_join_folder_and_an_api_client_through_the_hub(hub: HubProcess, stub, backend, tmp_path: Path) -> None:
    """A save in a mirrored folder, an edit through the Python API, an accept: seen by another client."""
    link = plaintext_link(hub.url, "ai-ready-stale")
    folder = tmp_path / "ann"
    stub.script(Reply(tokens=["w", " * h"]), Reply(tokens=["w + h"]), Reply(tokens=["2 * (w + h)"]))
    async with Session.connect(link, name="bob") as bob, Session.connect(link, name="cy") as cy, \
            agent_in(link, backend) as agent:
        bob.workspace.write("geo.py", SOURCE)
        await bob.wait_idle()
        join = JoinProcess(link, folder, "ann").start()
        try:
            saved = folder / "geo.py"
            await eventually(lambda: saved.exists() and saved.read_text() == SOURCE, 20)

            def ask() -> str:
                at = bob.workspace.read("geo.py").index("return ") + len("return ")
                return request_suggestion(bob.workspace, "geo.py", at, requested_by="bob")

            async def ready(sid: str) -> None:
                await eventually(lambda: sid in cy.workspace.suggestions and status(cy.workspace, sid)[0] == "ready", 20)

            # 1. Ann saves the file in her editor with another line changed: the suggestion stays.
            first = ask()
            await ready(first)
            edited = SOURCE.replace("import math", "import math, cmath")
            saved.write_text(edited)
            await eventually(lambda: agent.ws.read("geo.py") == edited == cy.workspace.read("geo.py"), 20)
            await settle()
            assert status(agent.ws, first)[0] == "ready" and first in agent.watching
            # 2. Then she saves it with the suggestion's line changed: stale, for everyone.
            edited = edited.replace("    return \n", "    return  \n")
            saved.write_text(edited)
            await eventually(lambda: status(cy.workspace, first)[0] == "stale", 20)
            assert status(cy.workspace, first) == ("stale", "the code at the anchor was edited")
            assert first not in agent.watching

            # 3. An API client types in the line of a ready suggestion: stale too.
            second = ask()
            await ready(second)
            line = bob.workspace.read("geo.py").index("    return")
            bob.workspace.text("geo.py").insert(line, "  ")
            await eventually(lambda: status(cy.workspace, second)[0] == "stale", 20)
            assert status(cy.workspace, second)[1] == "the code at the anchor was edited"

            # 4. Accepting inserts inside the region and is not mistaken for an edit.
            third = ask()
            await ready(third)
            accept(cy.workspace, third, decided_by="cy")
            expected = cy.workspace.read("geo.py")
            assert "return 2 * (w + h)" in expected
            await eventually(lambda: saved.read_text() == expected, 20)
            await eventually(lambda: status(agent.ws, third)[0] == "accepted", 20)
            await eventually(lambda: status(bob.workspace, third)[0] == "accepted", 20)
            await settle()
            assert status(agent.ws, third)[0] == "accepted" == status(cy.workspace, third)[0]
            assert agent.watching == frozenset()
        finally:
            assert join.stop() == 0, join.output()
    assert len(stub.requests) == 3
