"""Two Neovims with the plugin and a browser on the session page, in one encrypted room, converge."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, TypeVar

import pytest

from collab.crypto.links import write_link
from tests.e2ee.support import new_room
from tests.editors.nvim_support import editor, needs_nvim, participant, wait_for
from tests.editors.test_nvim import PIECES, TYPE, keystroke
from tests.support.hub_process import HubProcess
from tests.web.browser import CHROMIUM, CHROMIUM_ARGS, browser_unavailable

T = TypeVar("T")
pytestmark = [needs_nvim, pytest.mark.skipif(browser_unavailable() is not None, reason=str(browser_unavailable()))]

# The page's text, line by line, without teammates' cursor widgets (their names are in the DOM).
PAGE_TEXT = """() => [...document.querySelectorAll('.cm-content .cm-line')].map((line) => {
  const copy = line.cloneNode(true);
  copy.querySelectorAll('.cm-ySelectionCaret, [contenteditable=false]').forEach((w) => w.remove());
  return copy.textContent;
}).join('\\n')"""


class Threaded:
    """A Neovim on a thread of its own: pynvim runs an event loop, as Playwright's sync API does."""

    def __init__(self) -> None:
        self.pool = ThreadPoolExecutor(max_workers=1)
        self.cm = editor()
        self.ed = self.pool.submit(self.cm.__enter__).result()

    def __call__(self, fn: Callable[..., T], *args: Any) -> T:
        return self.pool.submit(fn, *args).result()

    def close(self) -> None:
        self.pool.submit(self.cm.__exit__, None, None, None).result()
        self.pool.shutdown()


def test_two_neovims_and_a_browser_converge_in_an_encrypted_room(hub: HubProcess) -> None:
    from playwright.sync_api import sync_playwright

    link = write_link(hub.url, new_room(hub))
    rng = random.Random(1616)
    one, two = Threaded(), Threaded()
    try:
        with participant() as py_side, sync_playwright() as pw:
            py = py_side.join(link, "py")
            py_side.call(lambda: py.workspace.write("shared.md", "start\n"))
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1200, "height": 6000})
                page.set_default_timeout(30_000)
                page.goto(link)
                page.get_by_label("Your name, as others will see it").fill("web")
                page.get_by_role("button", name="Join").click()
                page.locator("#connection-status", has_text="Connected").wait_for()
                page.locator('#file-list button[data-path="shared.md"]').click()
                page.locator(".cm-content", has_text="start").wait_for()
                page.locator(".cm-content").click()
                one(one.ed.join, link, "one")
                two(two.ed.join, link, "two")
                bufs = {id(one): one(one.ed.open, "shared.md"), id(two): two(two.ed.open, "shared.md")}
                for step in range(1000):
                    if step % 10 == 9:  # the browser types where its cursor is, moved by arrow keys
                        for _ in range(rng.randint(0, 6)):
                            page.keyboard.press(rng.choice(["ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown"]))
                        if rng.random() < 0.7:
                            page.keyboard.insert_text(rng.choice(PIECES))
                        else:
                            page.keyboard.press("Backspace")
                        continue
                    ed = one if step % 2 else two
                    ed(ed.ed.lua, TYPE, bufs[id(ed)], *keystroke(rng))

                def texts() -> list[str]:
                    return [py_side.call(lambda: py.workspace.read("shared.md")), one(one.ed.text, bufs[id(one)]),
                            two(two.ed.text, bufs[id(two)]), page.evaluate(PAGE_TEXT)]

                try:
                    wait_for(lambda: len(set(texts())) == 1, 90, "all four texts to meet")
                except AssertionError:
                    raise AssertionError(f"texts differ: {texts()!r}") from None
                want = texts()[0]
                assert len(want) > 100 and "😀" in want and "中文" in want and "e\u0301" in want
                # The browser is a live participant of it: what it types now reaches both Neovims.
                page.keyboard.insert_text("⟨web⟩")
                wait_for(lambda: all("⟨web⟩" in t for t in texts()), 30, "the browser's typing everywhere")
                assert len(set(texts())) == 1
            finally:
                browser.close()
    finally:
        one.close()
        two.close()
