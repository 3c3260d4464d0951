"""The page in workspace schema 2: it migrates a room of the previous schema, a rename keeps the
people in the file in it, and a deleted file is restored from the trash."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from collab.workspace import Workspace
from collab.workspace_files import UPGRADE_NOTICE_PATH
from tests.support.hub_process import HubProcess
from tests.support.waiting import eventually
from tests.support.yclient import pycrdt_client
from tests.web.browser import browser_unavailable, chromium, create_file, editor, file_button, join, new_page, start_session, type_in_editor

pytestmark = pytest.mark.skipif(browser_unavailable() is not None, reason=str(browser_unavailable()))

VECTOR = json.loads((Path(__file__).parent.parent / "vectors" / "workspace_schema1.json").read_text())


async def test_the_page_migrates_a_room_of_the_previous_schema(hub: HubProcess) -> None:
    from playwright.async_api import expect

    async with pycrdt_client(f"{hub.ws_url}/ws/old-room") as old:
        old.apply_update(base64.b64decode(VECTOR["update"]))
        ws = Workspace(old)
        async with chromium() as browser:
            page = await new_page(browser, hub.url)
            await join(page, f"{hub.url}/s/old-room", "Ada")
            await eventually(lambda: ws.schema == 2, what="the page migrated the room")
            assert ws.snapshot() == VECTOR["files"]
            legacy = old.get("files", type=__import__("pycrdt").Map)
            assert sorted(legacy.keys()) == sorted([*VECTOR["files"], UPGRADE_NOTICE_PATH])
            (suggestion,) = list(ws.iter_suggestions())
            assert ws.anchor_index(suggestion.id) == VECTOR["suggestion"]["index"]
            for path in VECTOR["files"]:
                await expect(file_button(page, path)).to_be_visible()
            await file_button(page, "README.md").click()
            await expect(editor(page)).to_contain_text("edited by a second hand")
            # An older client still edits the schema-1 text: the page carries it into the file.
            legacy["README.md"].insert(0, "old client was here\n")
            await expect(editor(page)).to_contain_text("old client was here")
            await eventually(lambda: ws.read("README.md") == "old client was here\n" + VECTOR["files"]["README.md"])
            assert page.errors == []  # type: ignore[attr-defined]


async def test_a_rename_keeps_whoever_is_in_the_file_in_it(hub: HubProcess) -> None:
    from playwright.async_api import expect

    async with chromium() as browser:
        ada = await new_page(browser, hub.url)
        link = await start_session(ada, "Ada")
        await create_file(ada, "main.py")
        await type_in_editor(ada, "x = 1")
        grace = await new_page(browser, hub.url)
        await join(grace, link, "Grace")
        await expect(editor(grace)).to_contain_text("x = 1")
        # Grace renames the file Ada is typing in; Ada stays in it, under its new name, and types on.
        await grace.get_by_role("button", name="Rename").click()
        await grace.get_by_label("New path").fill("src/app.py")
        await grace.get_by_role("button", name="Rename").last.click()
        await expect(ada.locator("#editor-heading")).to_have_text("src/app.py")
        await ada.keyboard.type("\ny = 2")
        await expect(editor(grace)).to_contain_text("y = 2")
        await expect(file_button(ada, "main.py")).to_have_count(0)
        # Ada deletes it; it is in Grace's trash, with who deleted it; Grace restores it.
        await ada.get_by_role("button", name="Delete").click()
        await expect(ada.get_by_role("dialog")).to_contain_text("trash")
        await ada.get_by_role("dialog").get_by_role("button", name="Delete").click()
        await expect(file_button(grace, "src/app.py")).to_have_count(0)
        await grace.locator("#trash summary").click()
        await expect(grace.locator("#trash-list")).to_contain_text("deleted by Ada")
        await grace.get_by_role("button", name="Restore src/app.py").click()
        await expect(file_button(ada, "src/app.py")).to_be_visible()
        await file_button(ada, "src/app.py").click()
        await expect(ada.locator(".cm-content .cm-line")).to_have_text(["x = 1", "y = 2"])
        assert ada.errors == [] and grace.errors == []  # type: ignore[attr-defined]
