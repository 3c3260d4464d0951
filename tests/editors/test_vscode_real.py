"""The extension's .vsix in a real VS Code (code-server 4.100.3, VS Code 1.100.3) driven by Playwright.

code-server cannot be installed from the npm registry alone (its postinstall fetches ripgrep and
prebuilt native modules from GitHub): editors/vscode/README.md says how it was installed here.
Point $CODE_SERVER at its executable (or put code-server on PATH) to run this.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest

from collab.crypto.links import write_link
from tests.e2ee.support import new_room
from tests.editors.nvim_support import participant, wait_for
from tests.editors.vscode_support import VSCODE, needs_node_packages
from tests.support.hub_process import HubProcess
from tests.support.openai_stub_server import OpenAIStubServer, Reply
from tests.support.ports import free_port
from tests.web.browser import CHROMIUM, CHROMIUM_ARGS, browser_unavailable

CODE_SERVER = os.environ.get("CODE_SERVER") or shutil.which("code-server")

pytestmark = [
    needs_node_packages,
    pytest.mark.skipif(CODE_SERVER is None, reason="no code-server: set $CODE_SERVER (editors/vscode/README.md)"),
    pytest.mark.skipif(browser_unavailable() is not None, reason=str(browser_unavailable())),
]


@contextlib.contextmanager
def code_server(tmp: Path, **settings: Any) -> Iterator[str]:
    """code-server with the freshly built .vsix installed and the bridge from this checkout; yields its URL.
    ``settings``: VS Code settings over these (``editor_autoClosingBrackets`` for ``editor.autoClosingBrackets``)."""
    assert CODE_SERVER is not None
    subprocess.run(["npm", "run", "--silent", "package"], cwd=VSCODE, check=True, timeout=300)
    dirs = ["--extensions-dir", str(tmp / "ext"), "--user-data-dir", str(tmp / "user")]
    subprocess.run([CODE_SERVER, *dirs, "--install-extension", str(VSCODE / "dist" / "collab.vsix")],
                   check=True, timeout=120, capture_output=True)
    (tmp / "user" / "User").mkdir(parents=True, exist_ok=True)
    (tmp / "user" / "User" / "settings.json").write_text(json.dumps({
        "collab.bridgeCommand": [sys.executable, "-m", "collab.cli", "editor"],
        "workbench.startupEditor": "none",
        "security.workspace.trust.enabled": False,
        "telemetry.telemetryLevel": "off",
        "extensions.autoCheckUpdates": False,
        "editor.autoClosingBrackets": "never",
        "editor.autoIndent": "none",
        # The word-completion list would open as "s" is typed; VS Code then shows an inline completion
        # only as far as it agrees with the list's selection (editors/vscode/README.md).
        "editor.quickSuggestions": {"other": False, "comments": False, "strings": False},
        **{key.replace("_", "."): value for key, value in settings.items()},
    }))
    (tmp / "work").mkdir()
    port = free_port()
    log = (tmp / "code-server.log").open("wb")
    proc = subprocess.Popen(
        [CODE_SERVER, *dirs, "--auth", "none", "--bind-addr", f"127.0.0.1:{port}", "--disable-telemetry",
         "--disable-update-check", "--disable-workspace-trust", str(tmp / "work")],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(Path.cwd())},
    )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(url + "/healthz", timeout=2) as response:
                return bool(response.status == 200)
        return False

    try:
        wait_for(up, 60, "code-server to listen")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def editor_text(page: Any) -> str:
    lines = page.locator(".monaco-editor .view-lines .view-line").all_inner_texts()
    return "\n".join(lines).replace("\u00a0", " ")


def run_command(page: Any, title: str) -> None:
    """Through the command palette; again while the palette does not list it yet (the extension host is
    still starting: its commands appear once it has)."""
    row = page.locator(".quick-input-list .monaco-list-row", has_text=title).first
    box = page.locator(".quick-input-widget input")
    deadline = time.monotonic() + 60
    while True:
        page.keyboard.press("F1")
        box.wait_for(state="visible")
        box.fill(">" + title)
        with contextlib.suppress(Exception):
            row.wait_for(timeout=3_000)
            break
        page.keyboard.press("Escape")
        assert time.monotonic() < deadline, f"{title!r} never appeared in the command palette"
    page.keyboard.press("Enter")


def answer(page: Any, text: str) -> None:
    box = page.locator(".quick-input-widget input")
    box.wait_for(state="visible")
    box.fill(text)
    page.keyboard.press("Enter")


def join_and_open(page: Any, url: str, link: str, path: str, shows: str) -> None:
    """Collab: Join as "vs", then Collab: Open a session file ``path``, until the editor shows ``shows``."""
    page.goto(url)
    page.locator(".monaco-workbench").wait_for()
    run_command(page, "Collab: Join a session")
    answer(page, link)
    answer(page, "vs")
    page.get_by_text("collab: joined").first.wait_for()
    page.locator(".statusbar", has_text="collab: connected").wait_for()
    run_command(page, "Collab: Open a session file")
    answer(page, path)
    wait_for(lambda: shows in editor_text(page), 30, "the session file in the editor")


def test_join_from_a_real_vs_code_and_see_a_remote_edit(hub: HubProcess, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    link = write_link(hub.url, new_room(hub))
    with participant() as ann_side, code_server(tmp_path) as url, sync_playwright() as pw:
        ann = ann_side.join(link, "ann")
        ann_side.call(lambda: ann.workspace.write("a.txt", "hello from ann\n"))
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(30_000)
            join_and_open(page, url, link, "a.txt", "hello from ann")
            ann_side.call(lambda: ann.workspace.write("a.txt", "hello from ann\nremote 😀 中文 line\n"))
            wait_for(lambda: "remote 😀 中文 line" in editor_text(page), 30, "ann's edit in VS Code")
            page.locator(".monaco-editor .view-lines").first.click()
            page.keyboard.press("Control+End")
            page.keyboard.type("typed in code")
            want = "hello from ann\nremote 😀 中文 line\ntyped in code"
            wait_for(lambda: ann_side.call(lambda: ann.workspace.read("a.txt")) == want, 30, "VS Code's typing reaches ann")
        except Exception:
            page.screenshot(path=str(tmp_path / "failed.png"))
            raise
        finally:
            browser.close()


def test_an_inline_completion_shows_as_ghost_text_in_vs_code_and_tab_accepts_it(
    hub: HubProcess, stub: OpenAIStubServer, tmp_path: Path
) -> None:
    """The room's agent (openai backend, the real SDK, the local streaming server) completes as the
    person types in VS Code; VS Code shows it as its own ghost text; Tab inserts it for everyone and
    the bridge records it as AI-assisted."""
    stub.script(Reply(tokens=["um", "(items)", " * 2"], delay=0.05))
    _complete_in_vs_code(hub, stub, tmp_path, typed=["s"], ghosts=["um(items) * 2"], accepted=len("um(items) * 2"))


def test_an_auto_closed_bracket_keeps_the_inline_completion_in_vs_code(
    hub: HubProcess, stub: OpenAIStubServer, tmp_path: Path
) -> None:
    """With VS Code closing brackets, typing the completion's "(" gives "()": the completion stays
    (the rest after the bracket), and Tab writes one closing bracket, not two."""
    stub.script(Reply(tokens=["(items)", " * 2"], delay=0.05))
    # After "(": ghost "items", the real ")", ghost " * 2".
    _complete_in_vs_code(hub, stub, tmp_path, typed=["sum", "("], ghosts=["(items) * 2", "items * 2"],
                         accepted=len("items) * 2"), editor_autoClosingBrackets="always")


def _complete_in_vs_code(hub: HubProcess, stub: OpenAIStubServer, tmp_path: Path, *, typed: list[str],
                         ghosts: list[str], accepted: int, **settings: Any) -> None:
    """Type each of ``typed`` at the end of calc.py and see the matching ghost text (its pieces joined); then Tab."""
    import pycrdt
    from playwright.sync_api import sync_playwright

    from collab.ai.agent import Agent, AgentConfig
    from collab.ai.openai_backend import OpenAIBackend

    backend = OpenAIBackend.openai("stub-model", base_url=stub.base_url, api_key="sk-test-not-a-real-key")
    link = write_link(hub.url, new_room(hub))
    source = "def total(items):\n    return sum(items)\n\ndef twice(items):\n    return "
    with participant() as ai_side, code_server(tmp_path, **settings) as url, sync_playwright() as pw:
        ai = ai_side.join(link, "ai")
        ai_side.call(lambda: ai.workspace.write("calc.py", source))
        ai_side.enter(Agent(ai.doc, ai.awareness, backend, AgentConfig(name="ai"), send_direct=ai.provider.send_direct))
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(30_000)
            join_and_open(page, url, link, "calc.py", "def twice")
            page.locator(".monaco-editor .view-lines").first.click()
            page.keyboard.press("Control+End")
            ghost = page.locator(".monaco-editor .ghost-text-decoration")  # one span per highlighted token
            for keys, shown in zip(typed, ghosts):
                page.keyboard.type(keys)
                wait_for(lambda: "".join(ghost.all_inner_texts()).replace("\u00a0", " ") == shown, 30,
                         f"{shown!r} as VS Code's ghost text")
            # A person's Tab comes a moment after the ghost text shows: by then the stream has ended and VS
            # Code has stopped asking again (VS Code hides and shows a growing completion to update it).
            time.sleep(0.5)
            wait_for(lambda: "".join(ghost.all_inner_texts()).replace("\u00a0", " ") == ghosts[-1], 30, "still shown")
            calls = len(stub.requests)
            page.keyboard.press("Tab")
            want = source + "sum(items) * 2"
            wait_for(lambda: ai_side.call(lambda: ai.workspace.read("calc.py")) == want, 30, "Tab inserts it for everyone")
            records = wait_for(lambda: ai_side.call(lambda: ai.doc.get("ai_assisted", type=pycrdt.Map).to_py()), 15,
                               "the insertion recorded as AI-assisted")
            assert [(r["by"], r["model"], r["length"]) for r in records.values()] == [("vs", "stub-model", accepted)]
            assert len(stub.requests) == calls == 1
        except Exception:
            page.screenshot(path=str(tmp_path / "failed.png"))
            raise
        finally:
            browser.close()


def test_esc_dismisses_an_inline_completion_in_vs_code_and_the_model_stream_is_closed(
    hub: HubProcess, stub: OpenAIStubServer, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    from collab.ai.agent import Agent, AgentConfig
    from collab.ai.openai_backend import OpenAIBackend

    stub.script(Reply(tokens=["um", "(items)"] + [" + 0"] * 60, delay=0.1))
    backend = OpenAIBackend.openai("stub-model", base_url=stub.base_url, api_key="sk-test-not-a-real-key")
    link = write_link(hub.url, new_room(hub))
    source = "def twice(items):\n    return "
    with participant() as ai_side, code_server(tmp_path) as url, sync_playwright() as pw:
        ai = ai_side.join(link, "ai")
        ai_side.call(lambda: ai.workspace.write("calc.py", source))
        ai_side.enter(Agent(ai.doc, ai.awareness, backend, AgentConfig(name="ai"), send_direct=ai.provider.send_direct))
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(30_000)
            join_and_open(page, url, link, "calc.py", "def twice")
            page.locator(".monaco-editor .view-lines").first.click()
            page.keyboard.press("Control+End")
            page.keyboard.type("s")
            ghost = page.locator(".monaco-editor .ghost-text-decoration")
            wait_for(lambda: "um(items)" in "".join(ghost.all_inner_texts()), 30, "the completion streaming in")
            page.keyboard.press("Escape")
            wait_for(lambda: stub.requests[0].disconnected, 15, "the streaming server sees its connection closed")
            wait_for(lambda: ghost.count() == 0, 10, "no ghost text")
            time.sleep(1.0)  # the stream's end would have shown it again
            assert ghost.count() == 0 and len(stub.requests) == 1
            assert ai_side.call(lambda: ai.workspace.read("calc.py")) == source + "s"
        except Exception:
            page.screenshot(path=str(tmp_path / "failed.png"))
            raise
        finally:
            browser.close()
