"""Drive Debian's Chromium with Playwright the way a person uses the session page."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from pathlib import Path
from typing import AsyncIterator

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = ROOT / "tests" / "artifacts"
# What a browser shows once a session is live.
CONNECTED = re.compile(r"^Connected$")


def browser_unavailable() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "playwright is not installed: .venv/bin/pip install playwright"
    if not (os.access(CHROMIUM, os.X_OK) or shutil.which("chromium")):
        return "Chromium is not installed: apt-get install -y chromium"
    return None


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[object]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


async def new_page(browser, base_url: str, *, bypass_csp: bool = False):  # type: ignore[no-untyped-def]
    # bypass_csp only for injecting axe-core: the page's own policy forbids inline scripts.
    context = await browser.new_context(base_url=base_url, viewport={"width": 1360, "height": 820}, bypass_csp=bypass_csp)
    return await page_in(context)


async def page_in(context):  # type: ignore[no-untyped-def]
    """A tab in ``context`` (another tab of the same profile: same IndexedDB, same remembered name)."""
    page = await context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors  # type: ignore[attr-defined]
    return page


async def start_session(page, name: str, *, plaintext: bool = False) -> str:  # type: ignore[no-untyped-def]
    """Use the landing page to start a session; return the link it lands on."""
    await page.goto("/")
    await page.get_by_label("Your name, as others will see it").fill(name)
    if plaintext:
        await page.get_by_label("Plaintext room (not end-to-end encrypted)").check()
    await page.get_by_role("button", name="Start a session").click()
    await page.wait_for_url(re.compile(r"/s/[^/#]+"))
    await wait_connected(page)
    return await link_of(page)


async def link_of(page) -> str:  # type: ignore[no-untyped-def]
    """The link this tab opened: the page moves the key from the address bar into the tab's
    sessionStorage once it has read it (web/src/crypto/fragment.ts), so page.url has none."""
    return str(await page.evaluate(
        "() => { const kept = sessionStorage.getItem('collab.link-key ' + location.pathname);"
        " return kept && !location.hash ? location.href + kept : location.href; }"
    ))


async def join(page, link: str, name: str | None) -> None:  # type: ignore[no-untyped-def]
    """Open a shared link; answer the one-time name prompt when it comes."""
    await page.goto(link)
    if name is not None:
        await page.get_by_label("Your name, as others will see it").fill(name)
        await page.get_by_role("button", name="Join").click()
    await wait_connected(page)


async def wait_connected(page) -> None:  # type: ignore[no-untyped-def]
    from playwright.async_api import expect

    await expect(page.locator("#connection-status")).to_have_text(CONNECTED)


async def create_file(page, path: str) -> None:  # type: ignore[no-untyped-def]
    from playwright.async_api import expect

    await page.get_by_role("button", name="New file").click()
    await page.get_by_label("File path (for example src/app.py)").fill(path)
    await page.get_by_role("button", name="Create").click()
    await expect(page.locator("#editor-heading")).to_have_text(path)


async def type_in_editor(page, text: str, *, at_end: bool = True) -> None:  # type: ignore[no-untyped-def]
    await page.locator(".cm-content").click()
    if at_end:
        await page.keyboard.press("Control+End")
    await page.keyboard.type(text)


def editor(page):  # type: ignore[no-untyped-def]
    return page.locator(".cm-content")


def file_button(page, path: str):  # type: ignore[no-untyped-def]
    return page.locator(f'#file-list button[data-path="{path}"]')
