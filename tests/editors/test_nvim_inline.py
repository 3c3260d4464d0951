"""Inline completions and the trash in real headless Neovims (editors/nvim), through the bridge, with a
real hub and an agent on the openai backend (the real SDK) against the local streaming server."""

from __future__ import annotations

import contextlib
import time
from typing import Any, Iterator

import pycrdt

from collab.crypto.links import write_link
from tests.e2ee.support import new_room
from tests.editors.nvim_support import Editor, Participant, editor, needs_nvim, participant, wait_for
from tests.support.hub_process import HubProcess
from tests.support.openai_stub_server import OpenAIStubServer, Reply

pytestmark = needs_nvim

SOURCE = "def total(items):\n    return sum(items)\n\ndef twice(items):\n    return "


@contextlib.contextmanager
def room_with_agent(hub: HubProcess, stub: OpenAIStubServer) -> Iterator[tuple[str, Participant, Any]]:
    """An encrypted room with calc.py and an agent that completes inline; yields (link, its side, its session)."""
    from collab.ai.agent import Agent, AgentConfig
    from collab.ai.openai_backend import OpenAIBackend

    link = write_link(hub.url, new_room(hub))
    backend = OpenAIBackend.openai("stub-model", base_url=stub.base_url, api_key="sk-test-not-a-real-key")
    with participant() as ai_side:
        ai = ai_side.join(link, "ai")
        ai_side.call(lambda: ai.workspace.write("calc.py", SOURCE))
        ai_side.enter(Agent(ai.doc, ai.awareness, backend, AgentConfig(name="ai"), send_direct=ai.provider.send_direct))
        yield link, ai_side, ai


def ghost(ed: Editor, buf: int) -> tuple[int, int, str] | None:
    """The inline completion Neovim shows: (row, col, text with its virtual lines), or None."""
    marks = ed.extmarks("inline", buf)
    if not marks:
        return None
    _, row, col, details = marks[0]
    lines = ["".join(chunk[0] for chunk in details.get("virt_text", []))]
    lines += ["".join(chunk[0] for chunk in line) for line in details.get("virt_lines", []) or []]
    return row, col, "\n".join(lines)


def type_at_end(ed: Editor, keys: str) -> None:
    """Into Insert mode at the end of the buffer (``A`` on the last line), then ``keys`` as typed."""
    ed.nvim.command("normal! G")
    ed.nvim.input("A")
    wait_for(lambda: ed.nvim.api.get_mode()["mode"] == "i", 10, "Insert mode")
    ed.nvim.input(keys)


def test_ghost_text_shows_only_for_the_typist_typing_it_keeps_it_and_tab_inserts_it_for_everyone(
    hub: HubProcess, stub: OpenAIStubServer
) -> None:
    stub.script(Reply(tokens=["um", "(items)", " * 2"], delay=0.1))
    with room_with_agent(hub, stub) as (link, ai_side, ai), editor() as ed, editor() as bob:
        ed.join(link, "ed")
        bob.join(link, "bob")
        buf, bob_buf = ed.open("calc.py"), bob.open("calc.py")
        type_at_end(ed, "s")
        shown = wait_for(lambda: (g := ghost(ed, buf)) is not None and g[2] == "um(items) * 2" and g, 20,
                         "the whole completion as ghost text")
        assert shown and shown[:2] == (4, len("    return s"))
        assert ed.text(buf) == SOURCE + "s"  # ghost text is not in the buffer
        assert ghost(bob, bob_buf) is None and bob.text(bob_buf) == SOURCE + "s"  # nor anyone else's
        # Typing what it shows keeps it (the rest moves along) and costs no second model call.
        ed.nvim.input("um")
        wait_for(lambda: (g := ghost(ed, buf)) and g[2] == "(items) * 2" and g[1] == len("    return sum"), 10,
                 "the rest of the completion after what was typed")
        assert len(stub.requests) == 1
        ed.nvim.input("<Tab>")
        want = SOURCE + "sum(items) * 2"
        wait_for(lambda: ed.text(buf) == want, 10, "Tab inserts it")
        wait_for(lambda: bob.text(bob_buf) == want, 15, "for everyone")
        wait_for(lambda: ai_side.call(lambda: ai.workspace.read("calc.py")) == want, 15, "in the session")
        assert ghost(ed, buf) is None
        assert ed.lua("return vim.api.nvim_win_get_cursor(0)") == [5, len("    return sum(items) * 2")]
        assert ed.nvim.api.get_mode()["mode"] == "i"
        records = ai_side.call(lambda: ai.doc.get("ai_assisted", type=pycrdt.Map).to_py())
        assert [(r["by"], r["model"], r["file"], r["length"]) for r in records.values()] == \
            [("ed", "stub-model", "calc.py", len("(items) * 2"))]
        assert len(stub.requests) == 1 and ghost(bob, bob_buf) is None


def test_a_mismatching_keystroke_cancels_the_completion_and_closes_the_model_stream(
    hub: HubProcess, stub: OpenAIStubServer
) -> None:
    stub.script(Reply(tokens=["um", "(items)"] + [" + 0"] * 60, delay=0.1),
                Reply(tokens=["Esc", "Dismissed"], delay=0.05))
    with room_with_agent(hub, stub) as (link, _ai_side, _ai), editor() as ed:
        ed.join(link, "ed")
        buf = ed.open("calc.py")
        type_at_end(ed, "s")
        wait_for(lambda: ghost(ed, buf), 20, "ghost text while it streams")
        ed.nvim.input("x")  # not what it shows
        wait_for(lambda: ghost(ed, buf) is None, 10, "the ghost goes")
        wait_for(lambda: stub.requests[0].disconnected, 10, "the streaming server sees its connection closed")
        assert not stub.requests[0].completed
        assert ed.text(buf) == SOURCE + "sx"
        # After the next pause a new completion; Esc (leaving Insert mode) dismisses it.
        wait_for(lambda: (g := ghost(ed, buf)) and g[2] == "EscDismissed", 20, "a new completion after the pause")
        assert len(stub.requests) == 2
        ed.nvim.input("<Esc>")
        wait_for(lambda: ghost(ed, buf) is None, 10, "Esc dismisses it")
        time.sleep(1.0)  # no keystroke: no new request
        assert len(stub.requests) == 2 and ed.text(buf) == SOURCE + "sx"


def test_an_auto_closed_bracket_keeps_a_completion_that_starts_with_it(hub: HubProcess, stub: OpenAIStubServer) -> None:
    # Whenever it is asked (a loaded machine may pause inside "sum"), the same completion.
    stub.respond_with(lambda _request: Reply(tokens=["(items)", " * 2"]))
    with room_with_agent(hub, stub) as (link, ai_side, ai), editor() as ed:
        ed.join(link, "ed")
        buf = ed.open("calc.py")
        ed.nvim.command("inoremap <buffer> ( ()<Left>")  # what auto-pair plugins do, as a plain mapping
        type_at_end(ed, "sum")
        wait_for(lambda: (g := ghost(ed, buf)) and g[2] == "(items) * 2" and g[1] == len("    return sum"), 20,
                 "the completion")
        asked = len(stub.requests)
        ed.nvim.input("(")
        wait_for(lambda: ed.text(buf) == SOURCE + "sum()", 10, "the editor closed the bracket")
        wait_for(lambda: (g := ghost(ed, buf)) and g[2] == "items) * 2", 10, "the completion stays, past its bracket")
        ed.nvim.input("<Tab>")
        want = SOURCE + "sum(items) * 2"
        wait_for(lambda: ed.text(buf) == want, 10, "one closing bracket, not two")
        wait_for(lambda: ai_side.call(lambda: ai.workspace.read("calc.py")) == want, 15, "for everyone")
        assert len(stub.requests) == asked  # the bracket cost no new request


def test_inline_completions_can_be_turned_off(hub: HubProcess, stub: OpenAIStubServer) -> None:
    with room_with_agent(hub, stub) as (link, _ai_side, _ai), editor() as ed:
        ed.join(link, "ed")
        buf = ed.open("calc.py")
        result = ed.lua("return require('collab').set_inline('off')")
        assert result["enabled"] is False
        type_at_end(ed, "s")
        time.sleep(1.0)
        assert not stub.requests and ghost(ed, buf) is None
        ed.nvim.input("<Esc>")
        assert ed.lua("return require('collab').set_inline('on')")["available"] is True
        ed.nvim.input("Au")
        wait_for(lambda: ghost(ed, buf), 20, "ghost text once on again")
        assert len(stub.requests) == 1


def test_the_trash_lists_deleted_files_and_restore_brings_one_back(hub: HubProcess) -> None:
    link = write_link(hub.url, new_room(hub))
    with participant() as ann_side, editor() as ed:
        ann = ann_side.join(link, "ann")
        ann.workspace.user = "ann"  # who the trash says deleted it
        ann_side.call(lambda: ann.workspace.write("notes.md", "keep me 😀\n"))
        ed.join(link, "ed")
        wait_for(lambda: "notes.md" in (ed.state("files") or []), 15, "the file list")
        ann_side.call(lambda: ann.workspace.delete("notes.md"))
        wait_for(lambda: "notes.md" not in (ed.state("files") or []), 15, "the delete reaches Neovim")
        entries = ed.lua("return require('collab').trash()")
        assert entries is not None, ed.state("log")
        assert [(e["path"], e["by"]) for e in entries] == [("notes.md", "ann")]
        ed.nvim.command("CollabRestore notes.md")
        wait_for(lambda: ann_side.call(lambda: "notes.md" in ann.workspace), 15, "restored for everyone")
        assert ann_side.call(lambda: ann.workspace.read("notes.md")) == "keep me 😀\n"
        assert "restored notes.md" in ed.state("log")
        assert ed.lua("return require('collab').trash()") == []
        buf = ed.open("notes.md")
        assert ed.text(buf) == "keep me 😀\n"
