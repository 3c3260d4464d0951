"""Suggestions as ghost text: two real browsers, a real `collab agent` process, the local OpenAI stub."""

from __future__ import annotations

import asyncio

import pytest

from collab.client.session import Session
from tests.ai_web.support import agent_process
from tests.support.hub_process import HubProcess
from tests.support.openai_stub_server import OpenAIStubServer, Reply
from tests.support.waiting import eventually
from tests.web.browser import ARTIFACTS, browser_unavailable, chromium, editor, join, new_page, start_session

pytestmark = pytest.mark.skipif(browser_unavailable() is not None, reason=str(browser_unavailable()))

SOURCE = "def total(items):\n    return "


def ghost(page):  # type: ignore[no-untyped-def]
    return page.locator(".cm-ghost")


async def cursor_to_end(page) -> None:  # type: ignore[no-untyped-def]
    await editor(page).click()
    await page.keyboard.press("Control+End")


async def test_both_pages_watch_a_suggestion_grow_and_the_other_accepts_it(hub: HubProcess, stub: OpenAIStubServer) -> None:
    from playwright.async_api import expect

    stub.script(Reply(tokens=["sum", "(items)", "  # all of them"], delay=0.15, pause_after=1))
    async with chromium() as browser:
        ada = await new_page(browser, hub.url)
        link = await start_session(ada, "Ada")
        async with Session.connect(link, name="checker") as checker, agent_process([link, "--inline", "off"], stub) as agent:
            checker.workspace.write("calc.py", SOURCE)
            grace = await new_page(browser, hub.url)
            await join(grace, link, "Grace")
            for page in (ada, grace):
                await expect(editor(page)).to_contain_text("def total(items):")
                await expect(page.locator("#people-list li[data-name=ai]")).to_contain_text("AI · stub-model")
            await cursor_to_end(ada)
            await ada.get_by_role("button", name="Complete here").click()

            # The first token is on both screens, marked with the model, while the stream waits.
            request = (await asyncio.to_thread(stub.wait_for_requests, 1))[0]
            await asyncio.to_thread(request.paused.wait, 15)
            for page in (ada, grace):
                await expect(ghost(page)).to_have_attribute("data-status", "streaming")
                await expect(ghost(page).locator(".cm-ghost-text")).to_have_text("sum")
                await expect(ghost(page).locator(".cm-ghost-model")).to_have_text("stub-model")
                await expect(ghost(page)).to_contain_text("for Ada")
            await expect(grace.locator("#people-list li[data-name=ai] .ai-activity")).to_contain_text("writing a suggestion for Ada in calc.py")
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            await grace.screenshot(path=str(ARTIFACTS / "ai-ghost-text-streaming.png"))
            request.resume.set()
            for page in (ada, grace):
                await expect(ghost(page).locator(".cm-ghost-text")).to_have_text("sum(items)  # all of them")
                await expect(ghost(page)).to_have_attribute("data-status", "ready")
            await ada.screenshot(path=str(ARTIFACTS / "ai-ghost-text-ready.png"))

            await grace.get_by_role("button", name="Accept suggestion from stub-model").click()
            for page in (ada, grace):
                await expect(editor(page)).to_contain_text("sum(items)  # all of them")  # real text: the ghost is gone
                await expect(ghost(page)).to_have_count(0)
            await eventually(lambda: checker.workspace.read("calc.py") == SOURCE + "sum(items)  # all of them", 15)
            entry = next(iter(checker.workspace.suggestions.values()))
            await eventually(lambda: entry.get("status") == "accepted", 15)
            assert (entry["model"], entry["requested_by"], entry["decided_by"]) == ("stub-model", "Ada", "Grace")
            assert isinstance(entry["decided_ts"], float)
            assert len(stub.requests) == 1
        assert ada.errors == [] and grace.errors == []  # type: ignore[attr-defined]
        assert "sk-test-not-a-real-key" not in agent.output()


async def test_reject_removes_it_for_everyone_and_an_edit_in_its_line_makes_it_stale(hub: HubProcess, stub: OpenAIStubServer) -> None:
    from playwright.async_api import expect

    stub.script(Reply(tokens=["len", "(items)"]), Reply(tokens=["max", "(items)"]), Reply(tokens=["min", "(items)"]))
    async with chromium() as browser:
        ada = await new_page(browser, hub.url)
        link = await start_session(ada, "Ada")
        async with Session.connect(link, name="checker") as checker, agent_process([link, "--inline", "off"], stub):
            checker.workspace.write("calc.py", SOURCE)
            grace = await new_page(browser, hub.url)
            await join(grace, link, "Grace")
            await expect(grace.locator("#people-list li[data-name=ai]")).to_be_visible()
            await cursor_to_end(ada)

            # Keyboard: Alt+/ asks, Esc at the suggestion rejects it; it goes for both.
            await ada.keyboard.press("Alt+/")
            for page in (ada, grace):
                await expect(ghost(page)).to_have_attribute("data-status", "ready")
            await ada.keyboard.press("Escape")
            for page in (ada, grace):
                await expect(ghost(page)).to_have_count(0)

            # Mouse: Grace rejects Ada's next one.
            await ada.keyboard.press("Alt+/")
            await expect(ghost(grace).locator(".cm-ghost-text")).to_have_text("max(items)")
            await grace.get_by_role("button", name="Reject suggestion from stub-model").click()
            for page in (ada, grace):
                await expect(ghost(page)).to_have_count(0)

            # An edit inside the suggestion's line: stale, on both pages, and nobody can accept it.
            await ada.keyboard.press("Alt+/")
            await expect(ghost(grace)).to_have_attribute("data-status", "ready")
            await ada.keyboard.press("Home")
            await ada.keyboard.type("# ")
            for page in (ada, grace):
                await expect(ghost(page)).to_have_attribute("data-status", "stale")
                await expect(ghost(page)).to_contain_text("stale")
                await expect(page.get_by_role("button", name="Accept suggestion from stub-model")).to_have_count(0)
            await grace.get_by_role("button", name="Dismiss suggestion from stub-model").click()
            for page in (ada, grace):
                await expect(ghost(page)).to_have_count(0)
            await eventually(lambda: checker.workspace.read("calc.py") == "def total(items):\n    # return ", 15)
            statuses = sorted(str(e.get("status")) for e in checker.workspace.suggestions.values())
            assert statuses == ["rejected", "rejected", "rejected"]
        assert ada.errors == [] and grace.errors == []  # type: ignore[attr-defined]
