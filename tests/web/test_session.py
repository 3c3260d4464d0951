"""Two people, one link: the browser session page against a real hub and real Chromium."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.hub_process import HubProcess
from tests.web.browser import (
    browser_unavailable,
    chromium,
    create_file,
    editor,
    file_button,
    join,
    new_page,
    start_session,
    type_in_editor,
    wait_connected,
)

pytestmark = pytest.mark.skipif(browser_unavailable() is not None, reason=str(browser_unavailable()))


def _db_bytes(hub: HubProcess) -> bytes:
    """Every byte the hub keeps on disk: the SQLite file and its write-ahead log."""
    return b"".join(p.read_bytes() for p in sorted(hub.data.rglob("*")) if p.is_file())


async def test_two_browsers_share_edits_cursors_files_and_chat(hub: HubProcess) -> None:
    from playwright.async_api import expect

    async with chromium() as browser:
        ada = await new_page(browser, hub.url)
        link = await start_session(ada, "Ada")
        assert "#k=" in link, "sessions from the landing page are encrypted by default"
        await create_file(ada, "main.py")
        await type_in_editor(ada, "print('hello from ada')")

        grace = await new_page(browser, hub.url)
        await join(grace, link, "Grace")
        # Grace lands in the only file and sees Ada's text.
        await expect(editor(grace)).to_contain_text("print('hello from ada')")
        await type_in_editor(grace, "\n# grace was here")
        await expect(editor(ada)).to_contain_text("# grace was here")

        # Remote cursors carry names, and the presence list says who is in which file.
        await expect(ada.locator(".cm-ySelectionInfo[data-name=Grace]")).to_be_visible()
        await type_in_editor(ada, "\nx = 1")
        await expect(grace.locator(".cm-ySelectionInfo[data-name=Ada]")).to_be_visible()
        await expect(ada.locator("#people-list li[data-name=Grace]")).to_contain_text("in main.py")
        await expect(grace.locator("#people-list li[data-name=Ada]")).to_contain_text("in main.py")

        # A file created by one shows up in the other's tree, with syntax highlighting by type.
        await create_file(grace, "notes.md")
        await type_in_editor(grace, "# Plan")
        await expect(file_button(ada, "notes.md")).to_be_visible()
        await file_button(ada, "notes.md").click()
        await expect(editor(ada)).to_contain_text("# Plan")

        # Chat reaches both.
        await ada.get_by_label("Message (Enter sends; @ai asks the AI)").fill("shall we rename x?")
        await ada.get_by_role("button", name="Send").click()
        for page in (ada, grace):
            await expect(page.locator("#chat-log")).to_contain_text("shall we rename x?")
            await expect(page.locator("#chat-log")).to_contain_text("Ada")

        # Rename and delete travel too.
        await file_button(grace, "main.py").click()
        await grace.get_by_role("button", name="Rename").click()
        await grace.get_by_label("New path").fill("app.py")
        await grace.get_by_role("button", name="Rename").last.click()
        await expect(file_button(ada, "app.py")).to_be_visible()
        await expect(file_button(ada, "main.py")).to_have_count(0)
        await file_button(ada, "notes.md").click()
        await ada.get_by_role("button", name="Delete").click()
        await ada.get_by_role("dialog").get_by_role("button", name="Delete").click()
        await expect(file_button(grace, "notes.md")).to_have_count(0)
        assert ada.errors == [] and grace.errors == []  # type: ignore[attr-defined]


async def test_encrypted_room_keeps_typed_text_from_the_hub(hub: HubProcess) -> None:
    from playwright.async_api import expect

    secret = "SuperSecretTypedInTheBrowser"
    async with chromium() as browser:
        page = await new_page(browser, hub.url)
        await start_session(page, "Ada")
        await create_file(page, "secret.py")
        await type_in_editor(page, f"token = '{secret}'")
        await page.get_by_label("Message (Enter sends; @ai asks the AI)").fill(f"chat {secret}")
        await page.keyboard.press("Enter")
        await expect(page.locator("#chat-log")).to_contain_text(secret)
        # Everything is acknowledged (durable) once the status line says so.
        await expect(page.locator("#connection-status")).to_have_attribute("data-pending", "0")
        await expect(page.locator("#connection-status")).to_have_text("Connected")
        stored = _db_bytes(hub)
    assert len(stored) > 0
    for needle in (secret, "secret.py", "Ada"):
        assert needle.encode() not in stored, f"{needle!r} reached the hub's disk in plaintext"
        assert needle not in hub.log()


async def test_reload_brings_back_content_and_name(hub: HubProcess) -> None:
    from playwright.async_api import expect

    async with chromium() as browser:
        page = await new_page(browser, hub.url)
        link = await start_session(page, "Ada")
        await create_file(page, "keep.py")
        await type_in_editor(page, "kept = True")
        await expect(page.locator("#connection-status")).to_have_attribute("data-pending", "0")
        await page.reload()
        await wait_connected(page)
        # No name prompt: the name is remembered.
        await expect(page.get_by_role("dialog")).to_have_count(0)
        await expect(page.locator("#people-list")).to_contain_text("Ada (you)")
        await expect(editor(page)).to_contain_text("kept = True")
        # The key left the address bar when the link was read; the tab kept it, so the reload worked.
        assert page.url == link.split("#", 1)[0]


async def test_offline_edits_sync_on_reconnect(hub: HubProcess) -> None:
    from playwright.async_api import expect

    async with chromium() as browser:
        ada = await new_page(browser, hub.url)
        link = await start_session(ada, "Ada")
        await create_file(ada, "offline.py")
        await type_in_editor(ada, "online = 1")
        grace = await new_page(browser, hub.url)
        await join(grace, link, "Grace")
        await expect(editor(grace)).to_contain_text("online = 1")

        await ada.context.set_offline(True)
        status = ada.locator("#connection-status")
        await expect(status).to_contain_text("Offline")
        await type_in_editor(ada, "\nwritten_offline = 2")
        await expect(status).to_contain_text("pending")
        await expect(editor(grace)).not_to_contain_text("written_offline")

        await ada.context.set_offline(False)
        await expect(status).to_have_text("Connected")
        await expect(editor(grace)).to_contain_text("written_offline = 2")


async def test_follow_a_participant_and_hear_who_moved(hub: HubProcess) -> None:
    from playwright.async_api import expect

    async with chromium() as browser:
        ada = await new_page(browser, hub.url)
        link = await start_session(ada, "Ada")
        await create_file(ada, "a.py")
        await create_file(ada, "b.py")
        grace = await new_page(browser, hub.url)
        await join(grace, link, "Grace")
        await expect(ada.locator("#announcer")).to_contain_text("Grace joined")
        await grace.get_by_role("button", name="Follow Ada").click()
        await expect(grace.get_by_role("button", name="Follow Ada")).to_have_attribute("aria-pressed", "true")
        # Ada moves to a.py: Grace's editor goes with her.
        await file_button(ada, "a.py").click()
        await type_in_editor(ada, "followed = 1")
        await expect(grace.locator("#editor-heading")).to_have_text("a.py")
        await expect(editor(grace)).to_contain_text("followed = 1")
        await expect(grace.locator("#announcer")).to_contain_text("Ada is in a.py")
        # Opening a file yourself stops following.
        await file_button(grace, "b.py").click()
        await expect(grace.get_by_role("button", name="Follow Ada")).to_have_attribute("aria-pressed", "false")
        await file_button(ada, "a.py").click()
        await expect(grace.locator("#editor-heading")).to_have_text("b.py")


async def test_browser_compacts_an_encrypted_room_into_a_snapshot_others_load(hub: HubProcess) -> None:
    from playwright.async_api import expect

    from collab.client.encrypted import EncryptedProvider
    from collab.workspace import Workspace
    from tests.support.store_file import snapshot

    typed = "".join(f"x{i % 10}" for i in range(280))  # 560 keystrokes: more than 500 updates
    async with chromium() as browser:
        ada = await new_page(browser, hub.url)
        link = await start_session(ada, "Ada")
        await create_file(ada, "long.txt")
        await type_in_editor(ada, typed)
        await expect(ada.locator("#connection-status")).to_have_attribute("data-pending", "0")
        room = link.split("/s/", 1)[1].split("#", 1)[0]
        deadline = asyncio.get_running_loop().time() + 15
        while snapshot(hub.data / "collab.sqlite3", room) is None:
            assert asyncio.get_running_loop().time() < deadline, "the browser never sealed a snapshot"
            await asyncio.sleep(0.2)
        # A new browser and the Python client both start from the snapshot and see everything.
        grace = await new_page(browser, hub.url)
        await join(grace, link, "Grace")
        await expect(editor(grace)).to_contain_text(typed)
        provider = EncryptedProvider.from_link(link)
        await provider.start()
        try:
            assert Workspace(provider.doc).read("long.txt") == typed
            assert provider.rejected == []
        finally:
            await provider.stop()
        # Editing continues after the snapshot, with replay checks intact on both sides.
        await type_in_editor(grace, "!")
        await expect(editor(ada)).to_contain_text(typed + "!")
        assert ada.errors == [] and grace.errors == []  # type: ignore[attr-defined]
