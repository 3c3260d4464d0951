"""The VS Code extension's session logic (editors/vscode/src/core) under Node, a real bridge, a real hub."""

from __future__ import annotations

import random
from typing import Iterator

import pytest

from collab.crypto.links import write_link
from tests.e2ee.support import new_room
from tests.editors.nvim_support import participant, wait_for
from tests.editors.test_nvim import PIECES
from tests.editors.vscode_support import compile_extension, needs_node_packages, vscode_session
from tests.support.hub_process import HubProcess
from tests.support.openai_stub_server import OpenAIStubServer, Reply

pytestmark = needs_node_packages


@pytest.fixture(scope="module", autouse=True)
def compiled() -> Iterator[None]:
    compile_extension()
    yield


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def test_edits_both_ways_converge_with_a_python_participant_in_an_encrypted_room(hub: HubProcess) -> None:
    link = write_link(hub.url, new_room(hub))
    rng = random.Random(17)
    with participant() as py_side, vscode_session() as code:
        py = py_side.join(link, "py")
        py_side.call(lambda: py.workspace.write("shared.md", "start\n"))
        joined = code("join", link=link, name="code")
        assert joined["encrypted"] and not joined["read_only"]
        # Remote edits reach the buffer after a random delay of up to 5 ms, so typing races them.
        opened = code("open", path="shared.md", delay_ms=5)
        assert opened["text"] == "start\n"
        for step in range(400):
            if step % 4 == 3:
                def py_edit() -> None:
                    text = py.workspace.read("shared.md")
                    at = rng.randint(0, len(text))
                    py.workspace.write("shared.md", text[:at] + rng.choice(PIECES) + text[at:])
                py_side.call(py_edit)
            elif rng.random() < 0.7:
                piece = "".join(rng.choice(PIECES) for _ in range(rng.randint(1, 3)))
                code("type", path="shared.md", row_at=rng.random(), char_at=rng.random(), inserted=piece, deleting=0)
            else:
                code("type", path="shared.md", row_at=rng.random(), char_at=rng.random(), inserted="",
                     deleting=rng.randint(1, 3))

        def met() -> str | None:
            theirs = py_side.call(lambda: py.workspace.read("shared.md"))
            return theirs if theirs == code("text", path="shared.md") else None

        try:
            want = wait_for(met, 60, "both texts to meet")
        except AssertionError:
            raise AssertionError(f"texts differ: {py_side.call(lambda: py.workspace.read('shared.md'))!r} vs "
                                 f"{code('text', path='shared.md')!r}; events {code('events')!r}") from None
        assert want is not None
        assert len(want) > 100 and "😀" in want and "中文" in want
        state = code("file", path="shared.md")
        # Remote edits were overtaken by typing (refused by the buffer, or dropped as made for an older one)
        # and came again rebased: the scheme was exercised, and nothing was refused by the bridge.
        assert state["dropped"] > 0
        assert not [e for e in code("events") if e[0] == "log"]


def test_an_edit_against_a_stale_revision_is_rebased(hub: HubProcess) -> None:
    link = write_link(hub.url, new_room(hub))
    with participant() as ann_side, vscode_session() as code:
        ann = ann_side.join(link, "ann")
        ann_side.call(lambda: ann.workspace.write("notes.md", "one\ntwo\n"))
        code("join", link=link, name="code")
        code("open", path="notes.md")
        code("hold", path="notes.md")  # the editor is busy: the teammate's edit waits to be applied
        ann_side.call(lambda: ann.workspace.write("notes.md", "😀 中文 e\u0301\none\ntwo\n"))
        wait_for(lambda: code("file", path="notes.md")["applying"], 15, "the teammate's edit on its way in")
        # The person types after "two" in the buffer they see, which does not have that edit yet.
        code("edit", path="notes.md", **{"from": 7, "to": 7, "text": "!"})
        assert code("file", path="notes.md")["revision"] == 0
        code("unhold", path="notes.md")
        want = "😀 中文 e\u0301\none\ntwo!\n"
        wait_for(lambda: code("text", path="notes.md") == want, 15, "the rebased edit in the buffer")
        wait_for(lambda: ann_side.call(lambda: ann.workspace.read("notes.md")) == want, 15, "and for the teammate")
        state = code("file", path="notes.md")
        assert state["refused"] == 1 and state["dropped"] == 1 and state["revision"] >= 1


def test_a_teammates_cursor_is_received_at_the_right_place(hub: HubProcess) -> None:
    link = write_link(hub.url, new_room(hub))
    text = "first line\nx 😀 中文 e\u0301 here\n"
    with participant() as ann_side, vscode_session() as code:
        ann = ann_side.join(link, "ann")
        ann_side.call(lambda: ann.workspace.write("a.txt", text))
        code("join", link=link, name="code")
        code("open", path="a.txt")
        index = text.index("here")
        ann_side.call(lambda: ann.set_cursor("a.txt", index))
        cursors = wait_for(lambda: code("cursors", path="a.txt"), 15, "ann's cursor")
        assert cursors[0]["name"] == "ann" and cursors[0]["offset"] == utf16(text[:index])
        people = code("state")["people"]
        assert "ann" in {p["name"] for p in people}  # the people list is the others


def test_a_suggestion_is_received_and_accepted(hub: HubProcess) -> None:
    from collab.ai.agent import Agent, AgentConfig
    from collab.ai.backend import load_backend

    link = write_link(hub.url, new_room(hub))
    source = "def total(items):\n    return sum(items)\n\ndef 中文(items):\n    return "
    with participant() as ai_side, vscode_session() as code:
        ai = ai_side.join(link, "ai")
        ai_side.call(lambda: ai.workspace.write("calc.py", source))
        ai_side.enter(Agent(ai.doc, ai.awareness, load_backend("builtin"), AgentConfig(name="ai"), send_direct=ai.provider.send_direct))
        code("join", link=link, name="code")
        code("open", path="calc.py")
        sid = code("suggest", path="calc.py", offset=utf16(source))
        ready = wait_for(lambda: (s := code("suggestion", sid=sid)) and s["status"] == "ready" and s, 30, "ready")
        assert "sum" in ready["text"] and ready["position"] == {"line": 4, "character": 11}
        code("accept", sid=sid)
        want = source + ready["text"]
        wait_for(lambda: code("text", path="calc.py") == want, 15, "the accepted text in the buffer")
        wait_for(lambda: ai_side.call(lambda: ai.workspace.read("calc.py")) == want, 15, "and in the session")
        wait_for(lambda: code("suggestion", sid=sid)["status"] == "accepted", 15, "the suggestion accepted")


def test_an_inline_completion_streams_in_and_is_accepted(hub: HubProcess, stub: OpenAIStubServer) -> None:
    from collab.ai.agent import Agent, AgentConfig
    from collab.ai.openai_backend import OpenAIBackend

    stub.script(Reply(tokens=["um", "(items)", " * 2"], delay=0.05))
    link = write_link(hub.url, new_room(hub))
    source = "def total(items):\n    return sum(items)\n\ndef 中文(items):\n    return "
    backend = OpenAIBackend.openai("stub-model", base_url=stub.base_url, api_key="sk-test-not-a-real-key")
    with participant() as ai_side, vscode_session() as code:
        ai = ai_side.join(link, "ai")
        ai_side.call(lambda: ai.workspace.write("calc.py", source))
        ai_side.enter(Agent(ai.doc, ai.awareness, backend, AgentConfig(name="ai"), send_direct=ai.provider.send_direct))
        code("join", link=link, name="code")
        code("open", path="calc.py")
        assert code("inline_enable", enabled=True, debounce_ms=50)["available"]
        end = utf16(source)
        code("edit", path="calc.py", **{"from": end, "to": end, "text": "s"})
        code("cursor", path="calc.py", offset=end + 1)
        shown = wait_for(lambda: (g := code("inline", path="calc.py")) and g["done"] and g, 20, "the inline completion")
        assert shown["text"] == "um(items) * 2" and shown["offset"] == end + 1 and shown["model"] == "stub-model"
        code("inline_accept", iid=shown["id"])
        want = source + "sum(items) * 2"
        wait_for(lambda: code("text", path="calc.py") == want, 15, "the completion in the buffer")
        wait_for(lambda: ai_side.call(lambda: ai.workspace.read("calc.py")) == want, 15, "and in the session")
        assert code("inline", path="calc.py") is None and len(stub.requests) == 1


def test_the_trash_lists_and_restores(hub: HubProcess) -> None:
    link = write_link(hub.url, new_room(hub))
    with participant() as ann_side, vscode_session() as code:
        ann = ann_side.join(link, "ann")
        ann_side.call(lambda: ann.workspace.write("old.md", "still here\n"))
        code("join", link=link, name="code")
        ann_side.call(lambda: ann.workspace.delete("old.md"))
        entries = wait_for(lambda: code("trash"), 15, "the deleted file in the trash")
        assert [e["path"] for e in entries] == ["old.md"]
        assert code("restore", tid=entries[0]["id"]) == "old.md"
        wait_for(lambda: ann_side.call(lambda: "old.md" in ann.workspace), 15, "restored for everyone")
        assert ann_side.call(lambda: ann.workspace.read("old.md")) == "still here\n" and code("trash") == []
