"""A hostile participant's presence cannot take over a teammate's page (issue 13, finding 7).

The attacker writes its own awareness state as a raw Yjs client would: a colour that is a CSS
declaration list (y-codemirror.next pasted it into the remote cursor's style attribute, so one
read-only member covered everyone's page with a fake notice), a name that is HTML, and, from a
second client, a cursor Yjs cannot resolve. The victim's page must show the cursor in the fallback
colour with the name as text, inject nothing, and keep working.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import pycrdt
import pytest

from collab.client.encrypted import EncryptedProvider
from collab.workspace import Workspace, cursor_json
from tests.support.hub_process import HubProcess
from tests.support.waiting import eventually
from tests.support.yclient import pycrdt_session
from tests.web.browser import browser_unavailable, chromium, create_file, new_page, start_session, type_in_editor

if TYPE_CHECKING:
    from playwright.async_api import Page

pytestmark = pytest.mark.skipif(browser_unavailable() is not None, reason=str(browser_unavailable()))

# What the attack looked like: the caret element becomes a full-page box with a fake notice drawn
# by a data: SVG.
NOTICE = "data:image/svg+xml,<svg xmlns='http://www.w3.org/2000/svg'><text y='50'>Session key expired: paste your link</text></svg>"
HOSTILE_COLOR = f'red;position:fixed;inset:0;z-index:2147483647;background:#fff url("{NOTICE}")'
HOSTILE_NAME = '<img src=x onerror="document.title=1"><b id=injected>Mallory</b>'
FALLBACK = "rgb(85, 85, 85)"  # presence/peer.ts FALLBACK_COLOR, #555555

SetState = Callable[[dict[str, Any]], Awaitable[None]]


@contextlib.asynccontextmanager
async def plaintext_peer(hub: HubProcess, link: str) -> AsyncIterator[tuple[pycrdt.Doc[Any], SetState]]:
    room = link.rsplit("/s/", 1)[1]
    async with pycrdt_session(f"{hub.ws_url}/ws/{room}") as py:
        yield py.doc, py.set_presence


@contextlib.asynccontextmanager
async def encrypted_reader(hub: HubProcess, read_link: str) -> AsyncIterator[tuple[pycrdt.Doc[Any], SetState]]:
    async with EncryptedProvider.from_link(read_link) as provider:

        async def set_state(state: dict[str, Any]) -> None:
            provider.awareness.set_local_state(state)  # sealed and sent like any presence

        yield provider.doc, set_state


async def hostile_state(doc: pycrdt.Doc[Any]) -> dict[str, Any]:
    files = Workspace(doc).files  # by path, in the page's schema 2
    await eventually(
        lambda: "main.py" in files and "shared = 1" in str(files["main.py"]), what="the file reached the attacker"
    )
    text = files["main.py"]
    # A selection (caret and tint) up to the end of the text: Python writes that position as the
    # text alone, no item, which y-codemirror.next needs spelled out.
    cursor = {"anchor": cursor_json(text, 0), "head": cursor_json(text, len(str(text)))}
    return {
        "user": {"name": HOSTILE_NAME, "color": HOSTILE_COLOR, "colorLight": HOSTILE_COLOR},
        "file": "main.py",
        "cursor": cursor,
    }


async def assert_page_is_its_own(page: Page) -> None:
    from playwright.async_api import expect

    caret = page.locator(".cm-ySelectionCaret")
    await expect(caret).to_have_count(1)  # the attacker's cursor still renders...
    await expect(caret).to_have_css("background-color", FALLBACK)  # ...in the fallback colour
    await expect(caret).to_have_css("position", "relative")
    await expect(page.locator(".cm-ySelection").first).to_have_css("background-color", "rgba(85, 85, 85, 0.2)")
    await expect(page.locator(".cm-ySelectionInfo")).to_have_attribute("data-name", HOSTILE_NAME)  # the name, as an attribute CSS draws
    person = page.locator("#people-list li", has_text="Mallory")
    await expect(person).to_contain_text(HOSTILE_NAME)
    await expect(person.locator(".dot")).to_have_css("background-color", FALLBACK)
    # Nothing injected (CodeMirror's widget buffers are src-less imgs), nothing covering the page:
    # what is under the middle of the window is the page's.
    assert await page.locator("img:not(.cm-widgetBuffer), #injected").count() == 0
    covered = await page.evaluate(
        """() => [...document.querySelectorAll('body *')].filter((el) => {
                 const s = getComputedStyle(el);
                 const r = el.getBoundingClientRect();
                 const onScreen = r.width * r.height > 0 && r.bottom > 0 && r.right > 0 && r.top < innerHeight && r.left < innerWidth;
                 return (s.position === 'fixed' && onScreen) || s.backgroundImage.includes('data:');
               }).map((el) => el.className)"""
    )
    assert covered == []
    middle = await page.evaluate(
        "() => document.elementFromPoint(innerWidth / 2, innerHeight / 2)?.closest('.cm-ySelectionCaret, .cm-ySelection') === null"
    )
    assert middle
    assert await page.title() != "1"


async def run_attack(
    page: Page, peer: contextlib.AbstractAsyncContextManager[tuple[pycrdt.Doc[Any], SetState]]
) -> None:
    from playwright.async_api import expect

    async with peer as (doc, set_state):
        await set_state(await hostile_state(doc))
        await assert_page_is_its_own(page)
    # The page goes on: its own edits still land, and the attacker's state left with it.
    await type_in_editor(page, "\nstill_working = 2")
    await expect(page.locator(".cm-content")).to_contain_text("still_working = 2")
    await expect(page.locator(".cm-ySelectionCaret")).to_have_count(0)


def watch_console(page: Page) -> list[str]:
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if "Content Security Policy" in msg.text else None)
    return problems


async def test_a_hostile_colour_and_name_cannot_take_over_a_plaintext_room_page(hub: HubProcess) -> None:
    async with chromium() as browser:
        page = await new_page(browser, hub.url)
        csp = watch_console(page)
        link = await start_session(page, "Ada", plaintext=True)
        await create_file(page, "main.py")
        await type_in_editor(page, "shared = 1")
        room = link.rsplit("/s/", 1)[1]
        # A second raw client whose cursor Yjs cannot resolve: dropped, not the page's remote cursors.
        async with pycrdt_session(f"{hub.ws_url}/ws/{room}") as broken:
            await broken.set_presence(
                {
                    "user": {"name": "Broken", "color": "#1b7340"},
                    "cursor": {"anchor": {"item": {"client": "x", "clock": {}}}, "head": {"tname": "evil"}},
                }
            )
            from playwright.async_api import expect

            await expect(page.locator("#people-list li", has_text="Broken")).to_be_visible()
            await run_attack(page, plaintext_peer(hub, link))
        assert page.errors == []
        assert csp == []
        # Nor could a style draw a picture: the page shows no data: image, so the policy allows none.
        policy = (await page.request.get("/")).headers["content-security-policy"]
        assert "img-src 'self'" in policy and "data:" not in policy


async def test_a_read_only_member_cannot_take_over_an_encrypted_room_page(hub: HubProcess) -> None:
    async with chromium() as browser:
        page = await new_page(browser, hub.url)
        csp = watch_console(page)
        await start_session(page, "Ada")
        await create_file(page, "main.py")
        await type_in_editor(page, "shared = 1")
        await page.get_by_role("button", name="Copy read-only link").click()
        read_link = await page.locator("#share-link").input_value()
        assert "#r=" in read_link
        await run_attack(page, encrypted_reader(hub, read_link))
        assert page.errors == []
        assert csp == []
