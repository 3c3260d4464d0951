"""The Neovim plugin (editors/nvim) in real headless Neovims, its bridge, a real hub."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from collab.crypto.links import read_link, write_link
from tests.e2ee.support import new_room
from tests.editors.nvim_support import editor, needs_nvim, participant, wait_for
from tests.support.hub_process import HubProcess

pytestmark = needs_nvim


def test_teammates_cursor_shows_as_an_extmark_with_their_name(hub: HubProcess) -> None:
    keys = new_room(hub)
    link = write_link(hub.url, keys)
    text = "first line\nx 😀 中文 e\u0301 here\n"
    with participant() as ann_side, editor() as ed:
        ann = ann_side.join(link, "ann")
        ann_side.call(lambda: ann.workspace.write("a.txt", text))
        ed.join(link, "ed")
        buf = ed.open("a.txt")
        assert ed.text(buf) == text
        index = text.index("here")
        ann_side.call(lambda: ann.set_cursor("a.txt", index))
        marks = wait_for(lambda: ed.extmarks("cursors", buf), 15, "ann's cursor")
        _, row, col, details = marks[0]
        line = text.split("\n")[1]
        assert (row, col) == (1, len(line[: line.index("here")].encode("utf-8")))
        assert details["virt_text"][0][0].strip() == "ann"


PIECES = ["a", "b", " ", "\n", "😀", "中文", "e\u0301", "ß", "🇫🇷"]


# A keystroke: computed and applied inside Neovim in one step, on the buffer as it is then (two
# RPC calls would let a remote edit land between reading the line and editing it).
TYPE = """
local buf, row_at, char_at, inserted, deleting = ...
local lines = vim.api.nvim_buf_get_lines(buf, 0, -1, false)
local row = math.floor(row_at * #lines)
local line = lines[row + 1]
local count = vim.str_utfindex(line)
local first = math.floor(char_at * (count + 1))
if first > count then first = count end
local last = math.min(count, first + deleting)
local function col(n) if n >= count then return #line end return vim.str_byteindex(line, n) end
vim.api.nvim_buf_set_text(buf, row, col(first), row, col(last), vim.split(inserted, "\\n", {plain = true}))
"""


def keystroke(rng: random.Random) -> tuple[float, float, str, int]:
    """Where (fractions of the buffer's lines and of the line) and what: mostly an insert, else a short delete."""
    if rng.random() < 0.7:
        return rng.random(), rng.random(), "".join(rng.choice(PIECES) for _ in range(rng.randint(1, 3))), 0
    return rng.random(), rng.random(), "", rng.randint(1, 3)


def test_two_neovims_and_a_python_participant_converge_in_an_encrypted_room(hub: HubProcess) -> None:
    keys = new_room(hub)
    link = write_link(hub.url, keys)
    rng = random.Random(16)
    with participant() as py_side, editor() as one, editor() as two:
        py = py_side.join(link, "py")
        py_side.call(lambda: py.workspace.write("shared.md", "start\n"))
        one.join(link, "one")
        two.join(link, "two")
        bufs = {id(one): one.open("shared.md"), id(two): two.open("shared.md")}
        for step in range(1000):
            if step % 10 == 9:  # the third participant types too, through the shared document
                def py_edit() -> None:
                    text = py.workspace.read("shared.md")
                    at = rng.randint(0, len(text))
                    py.workspace.write("shared.md", text[:at] + rng.choice(PIECES) + text[at:])
                py_side.call(py_edit)
                continue
            ed = one if step % 2 else two
            buf = bufs[id(ed)]
            ed.lua(TYPE, buf, *keystroke(rng))
        def met() -> str | None:
            text = py_side.call(lambda: py.workspace.read("shared.md"))
            return text if text == one.text(bufs[id(one)]) == two.text(bufs[id(two)]) else None

        try:
            want = wait_for(met, 60, "all three texts to meet")
        except AssertionError:
            texts = [py_side.call(lambda: py.workspace.read("shared.md")), one.text(bufs[id(one)]), two.text(bufs[id(two)])]
            raise AssertionError(f"texts differ: {texts!r}; logs {one.state('log')!r} {two.state('log')!r}") from None
        assert want is not None
        assert want.encode("utf-8") == one.text(bufs[id(one)]).encode("utf-8")
        assert len(want) > 100 and "😀" in want and "中文" in want and "e\u0301" in want
        for ed in (one, two):
            assert not [m for m in ed.state("log") if "refused" in m]
        # The editors did type over remote edits they had not applied yet: the rebasing was exercised.
        assert one.lua("return require('collab.buffers').dropped") + two.lua("return require('collab.buffers').dropped") > 0


def test_builtin_ai_suggestion_streams_in_as_virtual_text_and_accept_inserts_it(hub: HubProcess) -> None:
    from collab.ai.backend import load_backend

    suggested = _suggest_and_accept(hub, load_backend("builtin"), "sum")
    assert "sum" in suggested


def test_openai_suggestion_streams_in_as_virtual_text_and_accept_inserts_it(hub: HubProcess) -> None:
    """The openai SDK against the local streaming server: the virtual text grows token by token."""
    from collab.ai.openai_backend import OpenAIBackend
    from tests.support.openai_stub_server import OpenAIStubServer, Reply

    tokens = ("sum", "(items)", " * ", "2", "  # twice")
    with OpenAIStubServer(Reply(tokens=tokens, delay=0.4)) as stub:
        backend = OpenAIBackend.openai("stub-model", base_url=stub.base_url, api_key="sk-test-not-a-real-key")
        suggested = _suggest_and_accept(hub, backend, "sum(items)", partial="sum(items)", whole="".join(tokens))
    assert suggested == "".join(tokens)


def _suggest_and_accept(hub: HubProcess, backend: Any, piece: str, *, partial: str | None = None,
                        whole: str | None = None) -> str:
    """:CollabSuggest at the end of ``return ``: the suggestion shows as virtual text containing ``piece``
    (first only ``partial`` of ``whole``, when given: it streams), :CollabAccept inserts it."""
    from collab.ai.agent import Agent, AgentConfig

    keys = new_room(hub)
    link = write_link(hub.url, keys)
    source = "def total(items):\n    return sum(items)\n\ndef again(items):\n    return "
    with participant() as ai_side, editor() as ed:
        ai = ai_side.join(link, "ai")
        ai_side.call(lambda: ai.workspace.write("calc.py", source))
        ai_side.enter(Agent(ai.doc, ai.awareness, backend, AgentConfig(name="ai"), send_direct=ai.provider.send_direct))
        ed.join(link, "ed")
        buf = ed.open("calc.py")
        ed.lua("vim.api.nvim_win_set_cursor(0, {5, 11})")
        ed.nvim.command("CollabSuggest")

        def shown() -> str:
            marks = ed.extmarks("suggestions", buf)
            return "".join(chunk[0] for m in marks for chunk in m[3].get("virt_text", [])) if marks else ""

        if partial is not None and whole is not None:
            seen = wait_for(lambda: t if (t := shown()) and partial in t and t.strip() != whole.strip() else "", 30,
                            "part of the suggestion while it streams")
            assert whole.startswith(seen.strip()) or seen.strip() in whole
        marks = wait_for(lambda: [m for m in ed.extmarks("suggestions", buf) if piece in m[3]["virt_text"][0][0]], 30,
                         "the suggestion's text as virtual text")
        _, row, col, _ = marks[0]
        assert (row, col) == (4, 11)
        sid = ed.state("last_suggestion")
        wait_for(lambda: ed.lua("return require('collab').state.suggestions[...].status", sid) == "ready", 30, "ready")
        suggested: str = ed.lua("return require('collab').state.suggestions[...].text", sid)
        ed.nvim.command("CollabAccept")
        want = source + suggested
        wait_for(lambda: ed.text(buf) == want, 15, "the accepted text in the buffer")
        wait_for(lambda: ai_side.call(lambda: ai.workspace.read("calc.py")) == want, 15, "and in the session")
        wait_for(lambda: not ed.extmarks("suggestions", buf), 15, "the virtual text goes once accepted")
        return suggested


def test_read_only_link_makes_buffers_nomodifiable(hub: HubProcess) -> None:
    keys = new_room(hub)
    with participant() as ann_side, editor() as ed:
        ann = ann_side.join(write_link(hub.url, keys), "ann")
        ann_side.call(lambda: ann.workspace.write("a.txt", "hello\n"))
        ed.join(read_link(hub.url, keys), "reader")
        buf = ed.open("a.txt")
        assert ed.text(buf) == "hello\n"
        assert ed.lua("return vim.api.nvim_buf_get_option(..., 'modifiable')", buf) is False
        ok = ed.lua("return pcall(vim.api.nvim_buf_set_lines, ..., 0, 1, false, {'changed'})", buf)
        assert ok is False
        ann_side.call(lambda: ann.workspace.write("a.txt", "hello\nworld\n"))
        wait_for(lambda: ed.text(buf) == "hello\nworld\n", 15, "remote edits still arrive")
        assert ann_side.call(lambda: ann.workspace.read("a.txt")) == "hello\nworld\n"


def test_hub_restart_mid_typing_loses_nothing_typed(tmp_path: Path) -> None:
    hub = HubProcess(tmp_path / "data", "--room-idle-seconds", "0.5").start()
    try:
        keys = new_room(hub)
        link = write_link(hub.url, keys)
        with editor() as ed, participant() as ann_side:
            ann = ann_side.join(link, "ann")
            ann_side.call(lambda: ann.workspace.write("log.txt", ""))
            ed.join(link, "ed")
            buf = ed.open("log.txt")
            typed = []

            def type_line(i: int) -> None:
                line = f"line {i} 😀 中文 e\u0301"
                typed.append(line)
                ed.lua("local b, l = ...; vim.api.nvim_buf_set_lines(b, -1, -1, false, {l})", buf, line)

            for i in range(20):
                type_line(i)
            hub.kill()
            wait_for(lambda: ed.state("status") == "reconnecting", 20, "the plugin shows reconnecting")
            for i in range(20, 40):
                type_line(i)
            hub = HubProcess(tmp_path / "data", "--room-idle-seconds", "0.5", port=hub.port).start()
            wait_for(lambda: ed.state("status") == "connected", 40, "the plugin shows connected again")
            want = "\n" + "\n".join(typed)
            assert ed.text(buf) == want
            wait_for(lambda: ann_side.call(lambda: ann.workspace.read("log.txt")) == want, 40,
                     "everything typed reaches the teammate")
    finally:
        hub.stop()


def test_follow_chat_and_help_in_a_plaintext_room(hub: HubProcess) -> None:
    from collab.commands.new import create_plaintext_room
    from collab.crypto.links import plaintext_link

    link = plaintext_link(hub.url, create_plaintext_room(hub.url))
    with participant() as ann_side, editor() as ed:
        ann = ann_side.join(link, "ann")
        ann_side.call(lambda: (ann.workspace.write("a.py", "a = 1\n"), ann.workspace.write("b.py", "x\ny 中文 z\n")))
        ed.join(link, "ed")
        ed.open("a.py")
        ed.nvim.command("CollabFollow ann")
        ann_side.call(lambda: ann.set_cursor("b.py", len("x\ny 中文 ")))
        wait_for(lambda: ed.lua("return vim.api.nvim_buf_get_name(0)").endswith("collab://b.py"), 15, "ed follows to b.py")
        wait_for(lambda: ed.lua("return vim.api.nvim_win_get_cursor(0)") == [2, len("y 中文 ".encode("utf-8"))], 15,
                 "ed's cursor where ann's is")
        ed.nvim.command("CollabChat hello from neovim")
        wait_for(lambda: any(m.text == "hello from neovim" and m.author == "ed"
                             for m in ann_side.call(ann.workspace.messages)), 15, "the chat message")
        ann_side.call(lambda: ann.workspace.post_chat("ann", "hi ed"))
        wait_for(lambda: "ann: hi ed" in ed.state("log"), 15, "ann's message shown")
        ed.nvim.command("help collab")
        assert ed.lua("return vim.api.nvim_buf_get_name(0)").endswith("doc/collab.txt")
