"""axe-core audits of the landing and session pages, keyboard use, and screenshots to look at."""

from __future__ import annotations

import json

import pytest

from tests.support.hub_process import HubProcess
from tests.web.browser import (
    ARTIFACTS,
    AXE,
    browser_unavailable,
    chromium,
    create_file,
    join,
    new_page,
    start_session,
    type_in_editor,
)

pytestmark = pytest.mark.skipif(browser_unavailable() is not None, reason=str(browser_unavailable()))


async def serious_violations(page) -> list[dict]:  # type: ignore[no-untyped-def]
    if not AXE.exists():
        pytest.fail("axe-core is missing: run `npm ci --prefix web`")
    await page.add_script_tag(path=str(AXE))
    result = await page.evaluate(
        "async () => { const r = await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']});"
        " return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)})); }"
    )
    return [v for v in result if v["impact"] in ("serious", "critical")]


async def test_landing_and_session_pages_pass_axe(hub: HubProcess) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with chromium() as browser:
        page = await new_page(browser, hub.url, bypass_csp=True)
        await page.goto("/")
        await page.get_by_role("button", name="Start a session").wait_for()
        problems = await serious_violations(page)
        await page.screenshot(path=str(ARTIFACTS / "landing.png"))
        assert problems == [], json.dumps(problems, indent=1)

        link = await start_session(page, "Ada")
        await create_file(page, "app.py")
        await type_in_editor(page, "def greet(name: str) -> str:\n    # say hello\n    return f'hello {name}'\n")
        other = await new_page(browser, hub.url)
        await join(other, link, "Grace")
        await type_in_editor(other, "\nprint(greet('world'))")
        await other.get_by_label("Message (Enter sends; @ai asks the AI)").fill("looks good to me")
        await other.keyboard.press("Enter")
        await page.locator("#chat-log li").first.wait_for()
        await page.locator(".cm-ySelectionInfo").first.wait_for()
        problems = await serious_violations(page)
        await page.screenshot(path=str(ARTIFACTS / "session.png"))
        await other.screenshot(path=str(ARTIFACTS / "session-second-participant.png"))
        assert problems == [], json.dumps(problems, indent=1)


async def test_every_action_works_from_the_keyboard(hub: HubProcess) -> None:
    from playwright.async_api import expect

    async with chromium() as browser:
        page = await new_page(browser, hub.url)
        await page.goto("/")
        # Landing: the name field, then Enter submits.
        await page.get_by_label("Your name, as others will see it").focus()
        await page.keyboard.type("Kay")
        await page.keyboard.press("Enter")
        await expect(page.locator("#connection-status")).to_have_text("Connected")
        # New file by keyboard: focus the button, Enter, type a name, Enter.
        await page.get_by_role("button", name="New file").focus()
        await page.keyboard.press("Enter")
        await page.keyboard.type("k.py")
        await page.keyboard.press("Enter")
        await expect(page.locator("#editor-heading")).to_have_text("k.py")
        # Tab from the file list reaches the editor, which takes typing.
        await page.locator('#file-list button[data-path="k.py"]').focus()
        await page.keyboard.press("Enter")
        for _ in range(12):
            if await page.evaluate("document.activeElement?.classList.contains('cm-content')"):
                break
            await page.keyboard.press("Tab")
        await page.keyboard.type("typed = True")
        await expect(page.locator(".cm-content")).to_contain_text("typed = True")
        # Esc then Tab leaves the editor (Tab alone indents).
        await page.keyboard.press("Escape")
        await page.keyboard.press("Tab")
        assert not await page.evaluate("document.activeElement?.classList.contains('cm-content')")
        # Chat by keyboard.
        await page.get_by_label("Message (Enter sends; @ai asks the AI)").focus()
        await page.keyboard.type("keyboard only")
        await page.keyboard.press("Enter")
        await expect(page.locator("#chat-log")).to_contain_text("keyboard only")
        # Dialogs close with Escape and return nothing.
        await page.get_by_role("button", name="Rename").focus()
        await page.keyboard.press("Enter")
        await expect(page.get_by_role("dialog")).to_be_visible()
        await page.keyboard.press("Escape")
        await expect(page.get_by_role("dialog")).to_have_count(0)
        await expect(page.locator("#editor-heading")).to_have_text("k.py")
