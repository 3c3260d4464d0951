"""The browser and Python clients edit the same files and converge."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import pytest

from collab.workspace import Workspace
from tests.support.hub_process import HubProcess
from tests.support.yclient import pycrdt_session
from tests.support.waiting import eventually
from tests.web.browser import browser_unavailable, chromium, create_file, editor, new_page, start_session, type_in_editor

pytestmark = pytest.mark.skipif(browser_unavailable() is not None, reason=str(browser_unavailable()))


async def editor_text(page) -> str:  # type: ignore[no-untyped-def]
    # One div per line in CodeMirror's content element.
    lines = await page.locator(".cm-content .cm-line").all_inner_texts()
    return "\n".join(lines)


async def test_browser_and_stock_pycrdt_client_converge_in_a_plaintext_room(hub: HubProcess) -> None:
    from playwright.async_api import expect

    async with chromium() as browser:
        page = await new_page(browser, hub.url)
        link = await start_session(page, "Ada", plaintext=True)
        assert "#" not in link
        room = link.rsplit("/s/", 1)[1]
        await create_file(page, "main.py")
        await type_in_editor(page, "from_browser = 1")

        async with pycrdt_session(f"{hub.ws_url}/ws/{room}") as py:
            files = Workspace(py.doc).files  # the page made the room schema 2: files by path
            await eventually(lambda: "main.py" in files and "from_browser" in str(files["main.py"]))
            text = files["main.py"]
            await py.set_presence({"user": {"name": "py-bob", "color": "#1b7340", "colorLight": "#1b734033"}, "file": "main.py", "cursor": None})
            # Concurrent edits on both sides.
            text.insert(0, "from_python = 2\n")
            await type_in_editor(page, "\nbrowser_again = 3")
            text.insert(len(text), "\npython_again = 4")
            await expect(editor(page)).to_contain_text("python_again = 4")
            await expect(editor(page)).to_contain_text("from_python = 2")
            await eventually(lambda: "browser_again = 3" in str(text))
            await eventually(lambda: str(text) == "from_python = 2\nfrom_browser = 1\nbrowser_again = 3\npython_again = 4")
            assert await editor_text(page) == str(text)
            # The Python client shows up in the browser's presence list.
            await expect(page.locator("#people-list li[data-name=py-bob]")).to_contain_text("in main.py")


async def test_browser_and_collab_join_folder_converge_in_an_encrypted_room(hub: HubProcess, tmp_path: Path) -> None:
    from playwright.async_api import expect

    folder = tmp_path / "mirror"
    async with chromium() as browser:
        page = await new_page(browser, hub.url)
        link = await start_session(page, "Ada")
        await create_file(page, "main.py")
        await type_in_editor(page, "from_browser = 1\n")
        await expect(page.locator("#connection-status")).to_have_attribute("data-pending", "0")

        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "collab.cli", "join", link, "--dir", str(folder), "--name", "py-join",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )
        try:
            target = folder / "main.py"
            await eventually(lambda: target.exists() and "from_browser = 1" in target.read_text(), timeout=20)
            # An editor saves the file: the browser sees it.
            target.write_text(target.read_text() + "from_folder = 2\n")
            await expect(editor(page)).to_contain_text("from_folder = 2")
            # The browser types: the file on disk follows.
            await type_in_editor(page, "from_browser_again = 3")
            await eventually(lambda: "from_browser_again = 3" in target.read_text(), timeout=20)
            await expect(page.locator("#people-list li[data-name=py-join]")).to_be_visible()
            # The people list says it is a folder mirror, not a person typing.
            await expect(page.locator("#people-list li[data-name=py-join] .role")).to_have_text("folder mirror")
            assert target.read_text() == await editor_text(page)
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                output, _ = await asyncio.wait_for(proc.communicate(), 15)
            except asyncio.TimeoutError:
                proc.kill()
                output, _ = await proc.communicate()
        assert b"Traceback" not in output, output.decode(errors="replace")
