"""axe-core on the pages as a pair sees them (issue 17): the landing page, and a session page with
a folder tree, chat (markdown, an AI answer still streaming from a real `collab agent` on the local
OpenAI stub), a ready suggestion and a followed participant, each in the light theme, the dark
theme and at phone size. Screenshots of every state go to tests/artifacts/ to be looked at."""

from __future__ import annotations

import asyncio
import json

import pytest

from collab.client.session import Session
from tests.ai_web.support import agent_process
from tests.support.hub_process import HubProcess
from tests.support.openai_stub_server import OpenAIStubServer, Reply
from tests.web.browser import ARTIFACTS, browser_unavailable, chromium, join, new_page, page_in, start_session
from tests.web.test_accessibility import serious_violations

pytestmark = pytest.mark.skipif(browser_unavailable() is not None, reason=str(browser_unavailable()))

GEOMETRY = "import math\n\n\ndef area(r):\n    return math.pi * r * r\n\n\ndef circumference(r):\n    return 2 * math.pi * r\n"
ANSWER = ["Here is a version with a check:\n\n```python\n", "def area(r: float) -> float:\n", "    if r < 0:\n",
          "        raise ValueError('negative radius')\n", "    return math.pi * r * r\n```\n", "Call **area** with the radius."]
MODES = {
    "light": {"viewport": {"width": 1360, "height": 820}, "color_scheme": "light"},
    "dark": {"viewport": {"width": 1360, "height": 820}, "color_scheme": "dark"},
    "phone": {"viewport": {"width": 390, "height": 844}, "color_scheme": "light", "is_mobile": True, "has_touch": True},
}


async def _audit(page, name: str, problems: dict[str, list[dict]]) -> None:  # type: ignore[no-untyped-def]
    await page.screenshot(path=str(ARTIFACTS / f"axe-{name}.png"), full_page=True)
    found = await serious_violations(page)
    if found:
        problems[name] = found


async def test_no_serious_axe_violations_in_light_dark_and_phone(hub: HubProcess) -> None:
    from playwright.async_api import expect

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    problems: dict[str, list[dict]] = {}
    with OpenAIStubServer() as stub:
        stub.script(Reply(tokens=ANSWER, delay=0.02, pause_after=3))
        async with chromium() as browser:
            ada = await new_page(browser, hub.url, bypass_csp=True)
            link = await start_session(ada, "Ada")
            async with Session.connect(link, name="Grace") as grace, agent_process([link, "--inline", "off"], stub):
                grace.workspace.write("README.md", "# Circles\n")
                grace.workspace.write("src/geometry.py", GEOMETRY)
                grace.workspace.write("src/__init__.py", "")
                grace.set_cursor("src/geometry.py", GEOMETRY.index("math.pi * r * r"))
                grace.workspace.post_chat("Grace", "**Looks good.** The `area` helper is at src/geometry.py:4, see https://docs.python.org/3/")
                grace.workspace.post_chat("Grace", "@ai check area for negative radii")
                request = (await asyncio.to_thread(stub.wait_for_requests, 1))[0]
                await asyncio.to_thread(request.paused.wait, 30)
                grace.workspace.create_suggestion("src/geometry.py", GEOMETRY.index("\n\n\ndef circumference"), model="stub-model",
                                                  requested_by="Grace", status="ready", text="  # m²")

                # The dark page is a read-only viewer: its editor cannot take the caret.
                await ada.get_by_role("button", name="Copy read-only link").click()
                read_link = await ada.locator("#share-link").input_value()
                pages = {}
                for mode, options in MODES.items():
                    context = await browser.new_context(base_url=hub.url, bypass_csp=True, **options)  # type: ignore[arg-type]
                    page = await page_in(context)
                    await page.goto("/")
                    await page.get_by_role("button", name="Start a session").wait_for()
                    await _audit(page, f"{mode}-landing", problems)
                    await join(page, read_link if mode == "dark" else link, f"Viewer-{mode}")
                    await page.get_by_role("button", name="Follow Grace").click()
                    await expect(page.locator("#follow-banner")).to_contain_text("Following Grace")
                    await expect(page.locator("#editor-heading")).to_have_text("src/geometry.py")
                    await expect(page.locator(".cm-ySelectionInfo[data-name=Grace]")).to_have_count(1)
                    await expect(page.locator(".cm-ghost")).to_have_attribute("data-status", "ready")
                    await expect(page.locator("#chat-log li.msg.ai")).to_have_attribute("aria-busy", "true")
                    await expect(page.locator("#chat-log li.msg.ai pre.code")).to_be_visible()
                    await expect(page.locator("#chat-log strong").first).to_have_text("Looks good.")
                    if mode == "light":  # the search in all files, open with its matches
                        await page.keyboard.press("Control+Shift+f")
                        await page.keyboard.type("area")
                        await expect(page.locator("#search-results .search-hit")).to_have_count(1)
                    await _audit(page, f"{mode}-session", problems)
                    pages[mode] = page

                request.resume.set()
                for page in pages.values():
                    await expect(page.locator("#chat-log li.msg.ai")).to_contain_text("Call area with the radius.")
                    await expect(page.locator("#chat-log li.msg.ai")).not_to_have_attribute("aria-busy", "true")
                await _audit(pages["light"], "light-session-answered", problems)
                await _audit(pages["dark"], "dark-session-answered", problems)
                assert all(p.errors == [] for p in pages.values())  # type: ignore[attr-defined]
    assert problems == {}, json.dumps(problems, indent=1)
