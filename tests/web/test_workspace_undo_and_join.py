"""The page and file operations: undo of one's own delete (the "Deleted x. Undo" line, Ctrl+Z), and
renames between the page and a real `collab join` folder, both ways, with the file kept open."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.client.join_process import JoinProcess
from tests.support.hub_process import HubProcess
from tests.support.waiting import eventually
from tests.web.browser import browser_unavailable, chromium, create_file, editor, file_button, join, new_page, start_session, type_in_editor

pytestmark = pytest.mark.skipif(browser_unavailable() is not None, reason=str(browser_unavailable()))


def read(path: Path) -> str | None:
    try:
        return path.read_text()
    except (FileNotFoundError, IsADirectoryError):
        return None


async def delete_current(page) -> None:  # type: ignore[no-untyped-def]
    await page.get_by_role("button", name="Delete", exact=True).click()
    await page.get_by_role("dialog").get_by_role("button", name="Delete").click()


async def test_the_one_who_deleted_a_file_undoes_it(hub: HubProcess) -> None:
    from playwright.async_api import expect

    async with chromium() as browser:
        ada = await new_page(browser, hub.url)
        link = await start_session(ada, "Ada")
        await create_file(ada, "main.py")
        await type_in_editor(ada, "x = 1")
        grace = await new_page(browser, hub.url)
        await join(grace, link, "Grace")
        await file_button(grace, "main.py").click()
        await expect(editor(grace)).to_contain_text("x = 1")
        # Ctrl+Z right after the delete (the file is closed, so no editor has the key) brings it back.
        await delete_current(ada)
        await expect(file_button(grace, "main.py")).to_have_count(0)
        await expect(ada.locator(".undo-bar")).to_have_text("Deleted main.py. Undo")
        await expect(grace.locator(".undo-bar")).to_be_hidden()  # only the one who deleted it is offered
        await ada.keyboard.press("Control+z")
        await expect(file_button(grace, "main.py")).to_be_visible()
        await expect(ada.locator("#editor-heading")).to_have_text("main.py")
        await expect(editor(ada)).to_contain_text("x = 1")
        await expect(ada.locator(".undo-bar")).to_be_hidden()
        await expect(ada.locator("#trash")).to_be_hidden()
        # The Undo button does the same; once undone there is nothing left to undo.
        await delete_current(ada)
        await expect(ada.locator("#trash summary")).to_have_text("Trash (1)")
        await ada.get_by_role("button", name="Undo: restore main.py").click()
        await expect(file_button(grace, "main.py")).to_be_visible()
        await file_button(grace, "main.py").click()
        await expect(editor(grace)).to_contain_text("x = 1")
        await ada.keyboard.press("Control+z")  # nothing to undo: the file stays
        await expect(file_button(ada, "main.py")).to_be_visible()
        assert ada.errors == [] and grace.errors == []  # type: ignore[attr-defined]


async def test_renames_go_between_the_page_and_a_joined_folder(hub: HubProcess, tmp_path: Path) -> None:
    from playwright.async_api import expect

    folder = tmp_path / "mirror"
    async with chromium() as browser:
        ada = await new_page(browser, hub.url)
        link = await start_session(ada, "Ada")
        await create_file(ada, "src/helpers.py")
        await type_in_editor(ada, "x = 1")
        joe = JoinProcess(link, folder, "joe").start()
        try:
            await eventually(lambda: read(folder / "src/helpers.py") == "x = 1", timeout=20)
            inode = (folder / "src/helpers.py").stat().st_ino
            # Renamed in the page: renamed on disk (the same file, moved).
            await ada.get_by_role("button", name="Rename").click()
            await ada.get_by_label("New path").fill("src/tools.py")
            await ada.get_by_role("button", name="Rename").last.click()
            await eventually(lambda: read(folder / "src/tools.py") == "x = 1" and read(folder / "src/helpers.py") is None,
                             timeout=20)
            assert (folder / "src/tools.py").stat().st_ino == inode
            # Renamed on disk while Ada types in it: she stays in the file, under its new name, and nothing she typed is lost.
            await type_in_editor(ada, "\ny = 2")
            os.rename(folder / "src/tools.py", folder / "src/app.py")
            await type_in_editor(ada, "\nz = 3")
            await expect(ada.locator("#editor-heading")).to_have_text("src/app.py", timeout=20_000)
            await expect(ada).to_have_title(re.compile(r"^src/app\.py "))  # the tab's title follows
            await expect(file_button(ada, "src/tools.py")).to_have_count(0)
            await expect(ada.locator("#trash")).to_be_hidden()  # a rename, not a delete
            await type_in_editor(ada, "\nw = 4")
            await expect(ada.locator(".cm-content .cm-line")).to_have_text(["x = 1", "y = 2", "z = 3", "w = 4"])
            await eventually(lambda: read(folder / "src/app.py") == "x = 1\ny = 2\nz = 3\nw = 4", timeout=20)
            assert read(folder / "src/tools.py") is None
            assert ada.errors == []  # type: ignore[attr-defined]
        finally:
            assert joe.stop() == 0, joe.output()
