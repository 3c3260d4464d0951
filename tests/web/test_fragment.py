"""The key leaves the address bar once the page has read it (docs/e2ee.md "Links"): page.url, a
reload and the copy-link buttons, for write and read-only links."""

from __future__ import annotations

import pytest

from tests.support.hub_process import HubProcess
from tests.web.browser import (
    browser_unavailable,
    chromium,
    create_file,
    editor,
    join,
    link_of,
    new_page,
    start_session,
    type_in_editor,
    wait_connected,
)

pytestmark = pytest.mark.skipif(browser_unavailable() is not None, reason=str(browser_unavailable()))


async def _copied(page, button: str) -> str:  # type: ignore[no-untyped-def]
    await page.get_by_role("button", name=button).click()
    value: str = await page.locator("#share-link").input_value()
    return value


async def test_the_key_leaves_the_address_bar_and_a_reload_still_opens_the_room(hub: HubProcess) -> None:
    from playwright.async_api import expect

    async with chromium() as browser:
        ada = await new_page(browser, hub.url)
        link = await start_session(ada, "Ada")
        secret = link.split("#k=", 1)[1]
        assert "#" not in ada.url and secret not in ada.url
        assert secret not in await ada.evaluate("history.state === null ? '' : JSON.stringify(history.state)")
        await create_file(ada, "kept.py")
        await type_in_editor(ada, "STILL_HERE = 1")
        # The copy buttons build links from the keys, not from the address.
        assert await _copied(ada, "Copy invite link") == link
        read_only = await _copied(ada, "Copy read-only link")
        assert "#r=" in read_only

        await ada.reload()
        await wait_connected(ada)
        await expect(ada.locator(".badge")).to_have_text("End-to-end encrypted")
        await expect(editor(ada)).to_contain_text("STILL_HERE = 1")  # type: ignore[no-untyped-call,attr-defined]
        assert "#" not in ada.url
        assert await _copied(ada, "Copy invite link") == link

        # Another tab opening the bare address has no key: the tab's copy is the tab's only.
        other = await new_page(browser, hub.url)
        await other.goto(ada.url)
        await expect(other.get_by_role("alert")).to_contain_text("This link is missing its key")

        # A read-only link is stripped too and stays read-only across a reload.
        bob = await new_page(browser, hub.url)
        await join(bob, read_only, "Bob")
        assert "#" not in bob.url
        assert await link_of(bob) == read_only
        await bob.reload()
        await wait_connected(bob)
        await expect(bob.locator(".badge")).to_have_text("End-to-end encrypted, read-only")
        await expect(editor(bob)).to_contain_text("STILL_HERE = 1")  # type: ignore[no-untyped-call,attr-defined]
        assert ada.errors == [] and bob.errors == []
