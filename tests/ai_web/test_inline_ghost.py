"""Inline completions in the browser: two real Chromium pages, a real `collab agent` process, the real
openai SDK against the local stub (fixed time to first token and token rate)."""

from __future__ import annotations

import asyncio
import contextlib
import re
from typing import Any

import pycrdt
import pytest

from collab.ai.inline_client import InlineTypist
from collab.client.session import Session
from tests.ai_web.support import agent_process
from tests.support.hub_process import HubProcess
from tests.support.openai_stub_server import OpenAIStubServer, Reply
from tests.support.waiting import eventually
from tests.web.browser import browser_unavailable, chromium, editor, join, new_page, start_session

pytestmark = pytest.mark.skipif(browser_unavailable() is not None, reason=str(browser_unavailable()))

SOURCE = "def total(items):\n    return "
TOKEN_S = 0.03  # the stub's time to first token and between tokens


def ghost(page):  # type: ignore[no-untyped-def]
    return page.locator(".cm-inline-completion")


def count_direct_messages(page) -> list[int]:  # type: ignore[no-untyped-def]
    """How many direct messages reach the page, read off its websockets as the hub sends them
    (docs/protocol.md: DIRECT_RELAY 0x0A in encrypted rooms, y-websocket message type 100 in
    plaintext ones; no other hub frame starts with either byte). One counter, in a list."""
    seen = [0]

    def frame(payload: str | bytes) -> None:
        if isinstance(payload, bytes) and payload[:1] in (b"\x0a", b"\x64"):
            seen[0] += 1

    page.on("websocket", lambda ws: ws.on("framereceived", frame))
    return seen


@pytest.mark.parametrize("plaintext", [False, True], ids=["encrypted", "plaintext"])
async def test_a_pause_shows_my_ghost_text_only_to_me_and_tab_inserts_it_for_everyone(
    hub: HubProcess, stub: OpenAIStubServer, plaintext: bool
) -> None:
    from playwright.async_api import expect

    stub.script(
        Reply(tokens=["um", "(items)"], delay=TOKEN_S, pause_after=1),
        Reply(tokens=["all", " of them"], delay=TOKEN_S, pause_after=1),
    )
    async with chromium() as browser:
        ada = await new_page(browser, hub.url)
        to_ada = count_direct_messages(ada)
        link = await start_session(ada, "Ada", plaintext=plaintext)
        async with Session.connect(link, name="checker") as checker, agent_process([link], stub):
            checker.workspace.write("calc.py", SOURCE)
            grace = await new_page(browser, hub.url)
            to_grace = count_direct_messages(grace)
            await join(grace, link, "Grace")
            for page in (ada, grace):
                await expect(editor(page)).to_contain_text("def total(items):")
                await expect(page.locator(".cm-inline-status")).to_contain_text("by ai (stub-model)", timeout=30_000)
            await editor(ada).click()
            await ada.keyboard.press("Control+End")
            await ada.keyboard.type("s", delay=40)

            # The pause asks once; the first token shows at Ada's cursor while the stream waits.
            request = (await asyncio.to_thread(stub.wait_for_requests, 1))[0]
            await asyncio.to_thread(request.paused.wait, 15)
            await expect(ghost(ada)).to_have_text("um")
            await expect(ghost(grace)).to_have_count(0)
            assert "um" not in (await editor(grace).inner_text()).split("return ")[-1]

            # Typing what the ghost shows keeps the same request: no second call, the rest stays.
            await ada.keyboard.type("u")
            await expect(ghost(ada)).to_have_text("m")
            request.resume.set()
            await expect(ghost(ada)).to_have_text("m(items)")
            await expect(ghost(ada)).to_have_attribute("data-done", "true")
            await expect(ghost(grace)).to_have_count(0)
            assert len(stub.requests) == 1 and not request.disconnected
            # The completion went to Ada alone: Grace's page was sent none of it, not even sealed.
            assert to_ada[0] >= 2 and to_grace[0] == 0, (to_ada, to_grace)

            # Tab inserts it: an ordinary edit everyone sees, recorded with the model.
            await ada.keyboard.press("Tab")
            await expect(ghost(ada)).to_have_count(0)
            for page in (ada, grace):
                await expect(editor(page)).to_contain_text("return sum(items)")
            await eventually(lambda: checker.workspace.read("calc.py") == SOURCE + "sum(items)", 15)
            assisted = checker.doc.get("ai_assisted", type=pycrdt.Map)
            await eventually(lambda: len(assisted) == 1, 15)
            entry = next(iter(assisted.values()))
            assert (entry["model"], entry["by"], entry["file"], entry["length"]) == ("stub-model", "Ada", "calc.py", 8)  # "m(items)": Ada typed the "u"

            # A character that does not match withdraws the request: the stub sees its connection closed.
            await ada.keyboard.type("  # ", delay=40)
            second = (await asyncio.to_thread(stub.wait_for_requests, 2))[1]
            await asyncio.to_thread(second.paused.wait, 15)
            await expect(ghost(ada)).to_have_text("all")
            await ada.keyboard.type("x")
            await expect(ghost(ada)).to_have_count(0)
            await asyncio.to_thread(second.finished.wait, 15)
            assert second.disconnected
            # Only pauses asked: one call for "s", one for "  # " (typed 40 ms apart), one for the "x".
            await asyncio.to_thread(stub.wait_for_requests, 3)
            await asyncio.sleep(1.0)
            assert len(stub.requests) == 3
            assert to_grace[0] == 0
        assert ada.errors == [] and grace.errors == []  # type: ignore[attr-defined]


async def test_the_toggles_turn_it_off_for_me_and_for_the_room(hub: HubProcess, stub: OpenAIStubServer) -> None:
    from playwright.async_api import expect

    async with chromium() as browser:
        ada = await new_page(browser, hub.url)
        link = await start_session(ada, "Ada")
        async with Session.connect(link, name="checker") as checker, agent_process([link], stub):
            checker.workspace.write("calc.py", SOURCE)
            await expect(editor(ada)).to_contain_text("def total(items):")
            await expect(ada.locator(".cm-inline-status")).to_contain_text("by ai (stub-model)", timeout=30_000)
            await ada.get_by_label("Complete as I type").uncheck()
            await expect(ada.locator(".cm-inline-status")).to_contain_text("off for you")
            await editor(ada).click()
            await ada.keyboard.press("Control+End")
            await ada.keyboard.type("s")
            await asyncio.sleep(1.0)
            assert stub.requests == []
            await ada.get_by_label("Complete as I type").check()
            await ada.get_by_label("for this room").uncheck()
            await eventually(lambda: checker.workspace.settings.get("inline_completions") is False, 15)
            await expect(ada.locator(".cm-inline-status")).to_contain_text("off for everyone in this room")
            await ada.keyboard.type("u")
            await asyncio.sleep(1.0)
            assert stub.requests == []
        assert ada.errors == []  # type: ignore[attr-defined]


def named_reply(body: dict[str, Any]) -> Reply:
    """A reply that names the file it was asked about: a misaddressed completion shows."""
    prompt = str(body.get("messages", [{}])[-1].get("content", ""))
    found = re.findall(r"FILEMARK(\d+)", prompt.rsplit("<CURSOR>", 1)[0])
    return Reply(tokens=["ok", f"SECRET{found[-1] if found else 'none'}"], delay=TOKEN_S)


async def test_ten_typists_each_see_only_their_own_and_only_pauses_cost_a_call(hub: HubProcess, stub: OpenAIStubServer) -> None:
    from playwright.async_api import expect

    stub.respond_with(named_reply)  # type: ignore[arg-type]
    async with chromium() as browser, contextlib.AsyncExitStack() as stack:
        ada = await new_page(browser, hub.url)
        link = await start_session(ada, "Ada")
        others = [await stack.enter_async_context(Session.connect(link, name=f"t{i}")) for i in range(1, 10)]
        await stack.enter_async_context(agent_process([link], stub))
        others[0].workspace.write("a.py", "# FILEMARK0\nx = ")
        for i, s in enumerate(others, 1):
            s.workspace.write(f"f{i}.py", f"# FILEMARK{i}\nvalue_{i} = ")
        await expect(editor(ada)).to_contain_text("FILEMARK0")
        await expect(ada.locator(".cm-inline-status")).to_contain_text("by ai (stub-model)", timeout=30_000)

        async def python_typist(i: int, session: Session) -> None:
            me = InlineTypist(session.awareness, session.provider.on_direct)
            for round in range(3):
                await asyncio.sleep(0.3 + 0.2 * ((i + round) % 4))
                text = session.workspace.read(f"f{i}.py")
                me.ask(text, f"f{i}.py", len(text))
                await eventually(lambda: (me.reply() or {}).get("done") is True, 30)
                assert me.reply()["text"] == f"okSECRET{i}"  # type: ignore[index]
                me.clear()

        async def browser_typist() -> None:
            await ada.evaluate("window.__keys = []; addEventListener('keydown', (e) => e.key !== 'Escape' && window.__keys.push(performance.now()), true)")
            await editor(ada).click()
            await ada.keyboard.press("Control+End")
            for word in ("alpha_value", " + beta_value", " + gamma_value"):
                await ada.keyboard.type(word, delay=40)  # keystrokes well inside the debounce window
                await expect(ghost(ada)).to_have_text("okSECRET0", timeout=30_000)
                await ada.keyboard.press("Escape")
                await expect(ghost(ada)).to_have_count(0)

        await asyncio.gather(browser_typist(), *(python_typist(i, s) for i, s in enumerate(others, 1)))
        await asyncio.sleep(1.0)
        prompts = [str(r.body["messages"][-1]["content"]) for r in stub.requests]
        # A call needs a pause of at least the shortest debounce (200 ms) after a keystroke: the page's
        # own log of keystrokes says how many such pauses there were (2 between the words and the
        # last one, unless the machine stalled Chromium's typing).
        keys: list[float] = await ada.evaluate("window.__keys")
        pauses = sum(1 for a, b in zip(keys, keys[1:]) if b - a >= 200) + 1
        ada_calls = sum("FILEMARK0" in p for p in prompts)
        assert 3 <= ada_calls <= pauses, (ada_calls, pauses)
        assert len(prompts) == ada_calls + 27
        assert ada.errors == []  # type: ignore[attr-defined]
