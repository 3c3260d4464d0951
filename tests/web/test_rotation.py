"""Removing someone from the page (docs/e2ee.md "Rotation"): "Remove from session" in the people list
rotates the room's keys; the page and a Python member listed in the roster carry on without a new
link, the removed member stops, and the page follows a rotation another member makes too."""

from __future__ import annotations

import asyncio
import contextlib
from typing import AsyncIterator, Callable

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from collab.client.encrypted import EncryptedProvider
from collab.client.roster import roster
from collab.crypto.keys import RoomKeys
from collab.crypto.links import write_link
from collab.workspace import Workspace
from tests.e2ee.support import new_room, room_url
from tests.support.hub_process import HubProcess
from tests.web.browser import browser_unavailable, chromium, create_file, join, new_page, type_in_editor

pytestmark = pytest.mark.skipif(browser_unavailable() is not None, reason=str(browser_unavailable()))


async def until(check: Callable[[], bool], timeout: float = 20.0) -> None:
    async def wait() -> None:
        while not check():
            await asyncio.sleep(0.05)

    await asyncio.wait_for(wait(), timeout)


@contextlib.asynccontextmanager
async def member(hub: HubProcess, keys: RoomKeys, name: str) -> AsyncIterator[EncryptedProvider]:
    provider = EncryptedProvider(keys, room_url(hub, keys), device_key=X25519PrivateKey.generate(), device_name=name)
    await asyncio.wait_for(provider.start(), 20)
    provider.awareness.set_local_state({"user": {"name": name, "color": "#30bced"}})
    try:
        yield provider
    finally:
        await provider.stop()


def read(p: EncryptedProvider, path: str) -> str | None:
    ws = Workspace(p.doc)
    try:
        return ws.read(path) if path in ws.paths() else None
    finally:
        ws.close()


async def test_remove_from_session_in_the_page(hub: HubProcess) -> None:
    from playwright.async_api import expect

    keys = new_room(hub)
    async with chromium() as browser, member(hub, keys, "ada") as ada, member(hub, keys, "cy") as cy:
        page = await new_page(browser, hub.url)
        await join(page, write_link(hub.url, keys), "Pat")
        await create_file(page, "notes.md")
        await type_in_editor(page, "before ")
        await until(lambda: {d.name for d in roster(ada.doc)} == {"ada", "cy", "Pat"})
        await until(lambda: read(ada, "notes.md") == "before ")

        page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
        await page.get_by_role("button", name="Remove cy from session").click()
        await until(lambda: ada.keys.epoch == 1 and cy.fatal is not None)
        assert "removed from this session" in str(cy.fatal)
        await expect(page.locator("#connection-status")).to_have_text("Connected", timeout=20_000)
        await type_in_editor(page, "after")
        await until(lambda: read(ada, "notes.md") == "before after")
        assert read(cy, "notes.md") == "before "
        assert "cy" not in {d.name for d in roster(ada.doc)}
        await page.get_by_role("button", name="Copy invite link").click()
        assert (await page.locator("#share-link").input_value()).endswith("&e=1")  # the new epoch's link

        # A rotation another member makes keeps the page (its device is in the roster) too.
        await ada.rotate()
        ws = Workspace(ada.doc)
        ws.text("notes.md").insert(0, "ada: ")
        ws.close()
        await expect(page.locator(".cm-content")).to_contain_text("ada: before after", timeout=20_000)
        await type_in_editor(page, "!")
        await until(lambda: read(ada, "notes.md") == "ada: before after!")
        # Both hold the same log: the page's log code is ada's.
        await expect(page.locator("#log-code")).to_have_text(ada.log_code, timeout=10_000)
        assert page.errors == []
