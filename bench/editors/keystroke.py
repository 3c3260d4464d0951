"""A keystroke in Neovim to the text visible in a browser in the same room, next to browser-to-browser.

    .venv/bin/python bench/editors/keystroke.py [--keys 200] [--interval 0.1]

One hub (tests/support/hub_process.py), one encrypted room, one file. A watching browser
(Playwright, Debian's Chromium) records with a MutationObserver the wall-clock millisecond at
which its editor first shows each new count of a typed letter. The typists append one character at a
time at the end of the file, one every --interval seconds:

* Neovim: the plugin from editors/nvim in a headless Neovim (its bridge, `collab editor`); the
  keystroke's time is taken in Python just before the buffer edit is sent to Neovim.
* a second browser: keyboard.type into the page's editor; the time is the keydown event's in that
  page.

Both clocks are this machine's wall clock (Date.now() / time.time() in milliseconds). Prints p50,
p90, p99 and max per typist. Not a timed test: README.md beside this file has measured figures.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from collab.crypto.links import write_link  # noqa: E402
from tests.e2ee.support import new_room  # noqa: E402
from tests.editors.nvim_support import editor, participant, wait_for  # noqa: E402
from tests.support.hub_process import HubProcess  # noqa: E402
from tests.web.browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

PATH = "bench.txt"
START = "start "
WATCH = """() => {
  window.__seen = {};
  const root = document.querySelector('.cm-content');
  // Counts of the typed letters, not the text's length: teammates' cursor labels are in the DOM too.
  const note = () => {
    const now = Date.now(), text = root.textContent;
    for (const letter of ['q', 'z']) {
      const key = letter + (text.split(letter).length - 1);
      if (!(key in window.__seen)) window.__seen[key] = now;
    }
  };
  new MutationObserver(note).observe(root, {subtree: true, childList: true, characterData: true});
  note();
}"""


def open_page(browser: Any, link: str, name: str) -> Any:
    page = browser.new_page(viewport={"width": 1200, "height": 800})
    page.set_default_timeout(30_000)
    page.goto(link)
    page.get_by_label("Your name, as others will see it").fill(name)
    page.get_by_role("button", name="Join").click()
    page.locator("#connection-status", has_text="Connected").wait_for()
    page.locator(f'#file-list button[data-path="{PATH}"]').click()
    page.locator(".cm-content", has_text=START.strip()).wait_for()
    return page


def percentiles(latencies: list[float]) -> str:
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    return f"n={len(latencies)} p50={q[49]:.1f} ms p90={q[89]:.1f} ms p99={q[98]:.1f} ms max={max(latencies):.1f} ms"


def seen_at(watcher: Any, key: str, timeout: float = 20.0) -> float:
    """When the watcher first showed `key` (a letter and how many of it)."""
    try:
        got = wait_for(lambda: watcher.evaluate("k => window.__seen[k] || 0", key), timeout, key)
    except AssertionError:
        shown = watcher.evaluate("() => [document.querySelector('.cm-content').textContent, window.__seen]")
        raise AssertionError(f"the watcher never showed {key}: {shown!r}") from None
    return float(got)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keys", type=int, default=200)
    parser.add_argument("--interval", type=float, default=0.1)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        hub = HubProcess(Path(tmp) / "data").start()
        try:
            link = write_link(hub.url, new_room(hub))
            # pynvim runs an event loop of its own, as Playwright's sync API does: Neovim gets a thread.
            nvim_thread = ThreadPoolExecutor(max_workers=1)
            nvim_cm = editor()
            nvim = nvim_thread.submit(nvim_cm.__enter__).result()

            def in_nvim(fn: Any, *a: Any) -> Any:
                return nvim_thread.submit(fn, *a).result()

            with participant() as owner_side, sync_playwright() as pw:
                owner = owner_side.join(link, "owner")
                owner_side.call(lambda: owner.workspace.write(PATH, START))
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                watcher = open_page(browser, link, "watcher")
                typist = open_page(browser, link, "typist")
                in_nvim(nvim.join, link, "nvim")
                buf = in_nvim(nvim.open, PATH)
                results: dict[str, list[float]] = {"neovim -> browser": [], "browser -> browser": []}

                watcher.evaluate(WATCH)
                for i in range(args.keys):
                    sent = time.time() * 1000
                    in_nvim(nvim.lua, "local b = ...; local l = vim.api.nvim_buf_get_lines(b, 0, 1, false)[1];"
                             " vim.api.nvim_buf_set_text(b, 0, #l, 0, #l, {'q'})", buf)
                    results["neovim -> browser"].append(seen_at(watcher, f"q{i + 1}") - sent)
                    time.sleep(args.interval)

                typist.evaluate("() => { window.__sent = []; document.addEventListener('keydown',"
                                " () => window.__sent.push(Date.now()), true); }")
                typist.locator(".cm-content").click()
                typist.keyboard.press("Control+End")
                for i in range(args.keys):
                    typist.keyboard.type("z")
                    seen_at(watcher, f"z{i + 1}")
                    time.sleep(args.interval)
                sent_times = typist.evaluate("() => window.__sent")
                results["browser -> browser"] = [
                    seen_at(watcher, f"z{i + 1}") - float(sent) for i, sent in enumerate(sent_times[-args.keys:])
                ]
                browser.close()
            nvim_thread.submit(nvim_cm.__exit__, None, None, None).result()
            nvim_thread.shutdown()
            for name, latencies in results.items():
                print(f"{name:20} {percentiles(latencies)}")
        finally:
            hub.stop()


if __name__ == "__main__":
    main()
