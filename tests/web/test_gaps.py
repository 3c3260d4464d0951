"""The page loses no edit when the hub holds one back, swaps others, or withholds one for good (issue 21).

Ada's page talks to the real hub; Grace's page is served by, and connects through, a hostile hub
stand-in (tests/support/hostile_hub.py). Ada types one character per envelope; the proxy delivers
them to Grace out of order and never sends one of them on Grace's first connection. The previous
bundle accepted the gap, then dropped the late update as a replay, and never asked for the
withheld one: Grace's editor stayed short of Ada's text.
"""

from __future__ import annotations

import pytest

from collab.protocol import relay_frames as frames
from tests.support.hostile_hub import Link, Reorder, hostile_hub
from tests.support.hub_process import HubProcess
from tests.support.waiting import eventually
from tests.web.browser import browser_unavailable, chromium, create_file, file_button, join, new_page, start_session, type_in_editor

pytestmark = pytest.mark.skipif(browser_unavailable() is not None, reason=str(browser_unavailable()))


async def test_a_page_gets_every_edit_through_a_hub_that_withholds_and_reorders(hub: HubProcess) -> None:
    from playwright.async_api import Locator, expect

    async with chromium() as browser, hostile_hub(hub.url) as proxy:
        ada = await new_page(browser, hub.url)
        link = await start_session(ada, "Ada")
        await create_file(ada, "notes.md")
        await type_in_editor(ada, "start")
        pending = ada.locator("#connection-status")
        await expect(pending).to_have_attribute("data-pending", "0")

        grace = await new_page(browser, proxy.url)
        warnings: list[str] = []
        grace.on("console", lambda m: warnings.append(m.text) if m.type == "warning" else None)
        await join(grace, link.replace(hub.url, proxy.url, 1), "Grace")
        await file_button(grace, "notes.md").click()
        ada_text: Locator = ada.locator(".cm-content")
        grace_text: Locator = grace.locator(".cm-content")
        await expect(grace_text).to_contain_text("start")
        # Grace's page lists its device in the room's roster (an entry of its own) once synced.
        await eventually(lambda: proxy.links[0].published >= 1)
        await expect(grace.locator("#connection-status")).to_have_attribute("data-pending", "0")

        # From here on, entry h+1 waits until h+3 has gone out, and h+5 never goes out on
        # Grace's first connection.
        h = max(max(seq for _, seq in proxy.links[0].delivered), proxy.links[0].acked)  # Grace's own entry too
        reorder = Reorder({h + 1: h + 3})

        def tamper(link: Link, entry: frames.Entry) -> list[int]:
            if link.index == 0 and entry.seq == h + 5:
                return []
            return reorder(link, entry)

        proxy.tamper = tamper
        for ch in "123456":
            await type_in_editor(ada, ch)
            await expect(pending).to_have_attribute("data-pending", "0")  # one envelope per character
        await expect(ada_text).to_contain_text("start123456")

        await expect(grace_text).to_contain_text("start123456", timeout=20_000)
        first = [seq for _, seq in proxy.links[0].delivered if seq > h]
        assert first.index(h + 3) < first.index(h + 1) and h + 5 not in first
        # Grace came back from the last entry she held whole, and said why.
        await eventually(lambda: len(proxy.links) >= 2)
        assert [hello.since for hello in proxy.links[1].hellos] == [h + 4]
        assert any(f"asking the hub again from seq {h + 4}" in w for w in warnings), warnings
        assert not any("dropped entry" in w for w in warnings), warnings
        assert grace.errors == []
