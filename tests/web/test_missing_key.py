"""An encrypted room's link that lost its key on the way (cut at '#' by a chat tool, copied in part)
gets a page that says so, instead of a "plaintext" session the hub then refuses."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.support.hub_process import HubProcess
from tests.web.browser import browser_unavailable, chromium, new_page, start_session

pytestmark = pytest.mark.skipif(browser_unavailable() is not None, reason=str(browser_unavailable()))

# Keys of the records the page keeps in IndexedDB: [slot, server, room, tab].
STORED_KEYS = """
async () => {
  const wait = (req) => new Promise((ok, fail) => { req.onsuccess = () => ok(req.result); req.onerror = () => fail(req.error); });
  const db = await wait(indexedDB.open("collab"));
  try {
    if (!db.objectStoreNames.contains("rooms")) return [];
    return await wait(db.transaction("rooms").objectStore("rooms").getAllKeys());
  } finally {
    db.close();
  }
}
"""


async def _encrypted_room(browser, hub: HubProcess) -> str:  # type: ignore[no-untyped-def]
    ada = await new_page(browser, hub.url)
    link = await start_session(ada, "Ada")
    assert "#k=" in link
    return link


async def _nothing_pretends_to_work(page) -> None:  # type: ignore[no-untyped-def]
    from playwright.async_api import expect

    await expect(page.get_by_role("alert")).to_have_count(1)
    await expect(page.get_by_text("Plaintext", exact=False)).to_have_count(0)
    await expect(page.locator(".badge")).to_have_count(0)
    await expect(page.locator(".cm-content")).to_have_count(0)
    await expect(page.locator("#connection-status")).to_have_count(0)
    await expect(page.get_by_role("button", name="New file")).to_have_count(0)


async def test_a_link_cut_at_the_hash_says_its_key_is_missing(hub: HubProcess) -> None:
    from playwright.async_api import expect

    async with chromium() as browser:
        link = await _encrypted_room(browser, hub)
        # A first visit: nobody asks for a name before saying the link cannot work.
        bob = await new_page(browser, hub.url)
        await bob.goto(link.split("#", 1)[0])
        alert = bob.get_by_role("alert")
        await expect(alert).to_contain_text("This link is missing its key")
        await expect(alert).to_contain_text("end-to-end encrypted")
        await expect(alert).to_contain_text("after the #")
        await expect(alert).to_contain_text("cannot supply it")
        await expect(alert).to_contain_text("Ask whoever shared the link to send the full link")
        await _nothing_pretends_to_work(bob)
        await expect(bob.get_by_label("Your name, as others will see it")).to_have_count(0)
        assert await bob.evaluate(STORED_KEYS) == []

        assert bob.errors == []  # type: ignore[attr-defined]

        # A bare '#' left at the end says the same.
        carol = await new_page(browser, hub.url)
        await carol.goto(link.split("#", 1)[0] + "#")
        await expect(carol.get_by_role("alert")).to_contain_text("This link is missing its key")
        await _nothing_pretends_to_work(carol)


async def test_the_hubs_refusal_says_it_when_the_room_cannot_be_looked_up_first(hub: HubProcess) -> None:
    from playwright.async_api import expect

    async with chromium() as browser:
        link = await _encrypted_room(browser, hub)
        room = link.split("/s/", 1)[1].split("#", 1)[0]
        bob = await new_page(browser, hub.url)
        # Only the websocket tells, as behind a proxy that forwards the pages and /ws but not the API.
        await bob.route("**/api/rooms/*", lambda route: route.abort())
        await bob.goto(link.split("#", 1)[0])
        await bob.get_by_label("Your name, as others will see it").fill("Bob")
        await bob.get_by_role("button", name="Join").click()
        alert = bob.get_by_role("alert")
        await expect(alert).to_contain_text("This link is missing its key")
        await expect(alert).to_contain_text("Ask whoever shared the link to send the full link")
        await _nothing_pretends_to_work(bob)
        # The empty plaintext copy the page began for this room is not kept.
        deadline = time.monotonic() + 15
        while room in await _stored_rooms(bob):
            assert time.monotonic() < deadline, "the page kept a plaintext copy of an encrypted room"
            await asyncio.sleep(0.1)


async def _stored_rooms(page) -> list[str]:  # type: ignore[no-untyped-def]
    return [key[2] for key in await page.evaluate(STORED_KEYS)]


@pytest.mark.parametrize("fragment", ["#k=garbage", "#r=garbage", "#k=", "#k"])
async def test_a_damaged_key_says_so_once(hub: HubProcess, fragment: str) -> None:
    from playwright.async_api import expect

    async with chromium() as browser:
        link = await _encrypted_room(browser, hub)
        bob = await new_page(browser, hub.url)
        await bob.goto(link.split("#", 1)[0] + fragment)
        alert = bob.get_by_role("alert")
        await expect(alert).to_contain_text("its key is damaged")
        await expect(alert).to_contain_text("end-to-end encrypted")
        await expect(alert).to_contain_text("Ask whoever shared the link to send the full link")
        await _nothing_pretends_to_work(bob)
        assert "garbage" not in await alert.inner_text()


async def test_another_rooms_key_is_a_damaged_link_too(hub: HubProcess) -> None:
    from playwright.async_api import expect

    async with chromium() as browser:
        first = await _encrypted_room(browser, hub)
        second = await _encrypted_room(browser, hub)
        spliced = first.split("#", 1)[0] + "#" + second.split("#", 1)[1]
        bob = await new_page(browser, hub.url)
        await bob.goto(spliced)
        alert = bob.get_by_role("alert")
        await expect(alert).to_contain_text("its key is damaged")
        await expect(alert).to_contain_text("does not match the room its key opens")
        await _nothing_pretends_to_work(bob)
