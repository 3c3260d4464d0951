"""One small driver interface over three browser engines, so one flow test runs in each.

Chromium goes through Playwright (as tests/web does), Firefox ESR through WebDriver BiDi spoken
directly over its --remote-debugging-port (Debian has no geckodriver, and Firefox needs none for
BiDi), WebKitGTK through Selenium's WebKitGTK driver (WebKitWebDriver + MiniBrowser) under Xvfb,
since MiniBrowser has no headless mode. A "profile" is what a second person's browser is: its own
storage (IndexedDB, sessionStorage, the remembered name).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import glob
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, AsyncIterator, Protocol

ENGINES = ("chromium", "firefox", "webkit")
FIREFOX = "/usr/bin/firefox-esr"
WEBKIT_DRIVER = "/usr/bin/WebKitWebDriver"
VIEWPORT = (1360, 820)
# WebDriver's key codepoints (W3C WebDriver §17.4.2), the same for BiDi and Selenium.
KEYS = {"Enter": "\ue007", "Backspace": "\ue003", "Tab": "\ue004", "Escape": "\ue00c", "End": "\ue010", "Home": "\ue011", "Control": "\ue009"}


class Tab(Protocol):
    engine: str

    async def goto(self, url: str) -> None: ...
    async def call(self, fn: str) -> Any:
        """Run the JS function source ``fn`` (may be async) in the page; its JSON-able result."""
    async def click(self, css: str) -> None: ...
    async def type(self, text: str) -> None:
        """Type into whatever has focus, key by key; a newline presses Enter."""
    async def press(self, chord: str) -> None:
        """A chord such as "Control+End"."""
    async def screenshot(self, path: Path) -> None: ...


class Engine(Protocol):
    name: str
    version: str

    async def profile(self) -> Tab: ...


def unavailable(engine: str) -> str | None:
    """Why ``engine`` cannot run here, or None when it can."""
    if engine == "chromium":
        from tests.web.browser import browser_unavailable

        return browser_unavailable()
    if engine == "firefox":
        return None if os.access(FIREFOX, os.X_OK) else "Firefox ESR is not installed: apt-get install -y firefox-esr"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed: .venv/bin/pip install selenium"
    if not os.access(WEBKIT_DRIVER, os.X_OK) or not minibrowser():
        return "WebKitGTK's driver is not installed: apt-get install -y webkit2gtk-driver"
    if not shutil.which("Xvfb"):
        return "Xvfb is not installed: apt-get install -y xvfb"
    return None


def minibrowser() -> str | None:
    found = sorted(glob.glob("/usr/lib/*/webkit2gtk-4.*/MiniBrowser"))
    return found[-1] if found else None


def _pairs(text: str) -> list[tuple[str, str]]:
    return [("keyDown", KEYS["Enter"] if c == "\n" else c) for c in text]


def _chord(chord: str) -> list[str]:
    return [KEYS.get(part, part) for part in chord.split("+")]


# ---------------------------------------------------------------- Chromium (Playwright)


class _PlaywrightTab:
    engine = "chromium"

    def __init__(self, page: Any) -> None:
        self.page = page

    async def goto(self, url: str) -> None:
        await self.page.goto(url)

    async def call(self, fn: str) -> Any:
        from playwright.async_api import Error

        for attempt in range(3):
            try:
                return await self.page.evaluate(fn)
            except Error as exc:
                # A poll that lands on a navigation (landing page -> session page): ask the new page.
                if "context was destroyed" not in str(exc) or attempt == 2:
                    raise
                await self.page.wait_for_load_state()

    async def click(self, css: str) -> None:
        await self.page.locator(css).first.click()

    async def type(self, text: str) -> None:
        for line_no, line in enumerate(text.split("\n")):
            if line_no:
                await self.page.keyboard.press("Enter")
            await self.page.keyboard.type(line)

    async def press(self, chord: str) -> None:
        await self.page.keyboard.press(chord)

    async def screenshot(self, path: Path) -> None:
        await self.page.screenshot(path=str(path))


class _Chromium:
    name = "chromium"

    def __init__(self, browser: Any) -> None:
        self.browser = browser
        self.version = str(browser.version)

    async def profile(self) -> Tab:
        context = await self.browser.new_context(viewport={"width": VIEWPORT[0], "height": VIEWPORT[1]})
        page = await context.new_page()
        page.set_default_timeout(15_000)
        return _PlaywrightTab(page)


@contextlib.asynccontextmanager
async def _chromium() -> AsyncIterator[Engine]:
    from tests.web.browser import chromium

    async with chromium() as browser:
        yield _Chromium(browser)


# ---------------------------------------------------------------- Firefox (WebDriver BiDi)


class _Bidi:
    """The few BiDi commands the flows need, over one websocket."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.waiting: dict[int, asyncio.Future[Any]] = {}
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self.ws:
            msg = json.loads(raw)
            fut = self.waiting.pop(msg.get("id", -1), None)
            if fut is None or fut.done():
                continue
            if msg.get("type") == "error":
                fut.set_exception(RuntimeError(f"{msg.get('error')}: {msg.get('message')}"))
            else:
                fut.set_result(msg.get("result"))

    async def send(self, method: str, **params: Any) -> Any:
        ident = next(self.ids)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.waiting[ident] = fut
        await self.ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        return await asyncio.wait_for(fut, 30)


class _BidiTab:
    engine = "firefox"

    def __init__(self, bidi: _Bidi, context: str) -> None:
        self.bidi = bidi
        self.context = context

    async def goto(self, url: str) -> None:
        await self.bidi.send("browsingContext.navigate", context=self.context, url=url, wait="complete")

    async def call(self, fn: str) -> Any:
        result = await self.bidi.send(
            "script.callFunction",
            functionDeclaration=f"async () => JSON.stringify(await ({fn})() ?? null)",
            target={"context": self.context},
            awaitPromise=True,
        )
        if result["type"] == "exception":
            raise RuntimeError(result["exceptionDetails"]["text"])
        return json.loads(result["result"]["value"])

    async def click(self, css: str) -> None:
        where = await self.call(
            f"() => {{ const el = document.querySelector({json.dumps(css)}); if (!el) return null;"
            " el.scrollIntoView({block: 'center'}); const r = el.getBoundingClientRect();"
            " return [Math.round(r.left + Math.min(r.width / 2, 20)), Math.round(r.top + r.height / 2)]; }"
        )
        if where is None:
            raise LookupError(f"no element matches {css}")
        x, y = where
        await self._actions([{"type": "pointer", "id": "mouse", "actions": [
            {"type": "pointerMove", "x": x, "y": y}, {"type": "pointerDown", "button": 0}, {"type": "pointerUp", "button": 0},
        ]}])

    async def type(self, text: str) -> None:
        keys: list[dict[str, str]] = []
        for kind, value in _pairs(text):
            keys += [{"type": kind, "value": value}, {"type": "keyUp", "value": value}]
        await self._actions([{"type": "key", "id": "keyboard", "actions": keys}])

    async def press(self, chord: str) -> None:
        parts = _chord(chord)
        down = [{"type": "keyDown", "value": p} for p in parts]
        up = [{"type": "keyUp", "value": p} for p in reversed(parts)]
        await self._actions([{"type": "key", "id": "keyboard", "actions": down + up}])

    async def _actions(self, actions: list[dict[str, Any]]) -> None:
        await self.bidi.send("input.performActions", context=self.context, actions=actions)

    async def screenshot(self, path: Path) -> None:
        shot = await self.bidi.send("browsingContext.captureScreenshot", context=self.context)
        path.write_bytes(base64.b64decode(shot["data"]))


class _Firefox:
    name = "firefox"

    def __init__(self, bidi: _Bidi, version: str) -> None:
        self.bidi = bidi
        self.version = version

    async def profile(self) -> Tab:
        user = await self.bidi.send("browser.createUserContext")
        # A window rather than a tab: a background tab gets no animation frames, which the
        # editor and the page's perFrame rendering wait on.
        made = await self.bidi.send("browsingContext.create", type="window", userContext=user["userContext"])
        ctx = made["context"]
        await self.bidi.send("browsingContext.setViewport", context=ctx, viewport={"width": VIEWPORT[0], "height": VIEWPORT[1]})
        return _BidiTab(self.bidi, ctx)


FIREFOX_PREFS = {
    "browser.shell.checkDefaultBrowser": False,
    "browser.startup.homepage_override.mstone": "ignore",
    "datareporting.policy.dataSubmissionEnabled": False,
    "toolkit.telemetry.reportingpolicy.firstRun": False,
    "app.update.disabledForTesting": True,
    "network.proxy.type": 0,  # the machine's proxy variables must not catch the local hub
    "remote.prefs.recommended": True,
}


@contextlib.asynccontextmanager
async def _firefox() -> AsyncIterator[Engine]:
    import websockets

    from tests.support.ports import free_port

    port = free_port()
    with tempfile.TemporaryDirectory(prefix="collab-firefox-") as profile:
        Path(profile, "user.js").write_text("".join(f"user_pref({json.dumps(k)}, {json.dumps(v)});\n" for k, v in FIREFOX_PREFS.items()))
        proc = subprocess.Popen(
            [FIREFOX, "--headless", "--no-remote", "--profile", profile, f"--remote-debugging-port={port}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            ws = await _connect(f"ws://127.0.0.1:{port}/session", websockets, proc)
            bidi = _Bidi(ws)
            made = await bidi.send("session.new", capabilities={"alwaysMatch": {"acceptInsecureCerts": True}})
            try:
                yield _Firefox(bidi, str(made["capabilities"]["browserVersion"]))
            finally:
                with contextlib.suppress(Exception):
                    await bidi.send("session.end")
                await ws.close()
                bidi.reader.cancel()
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


async def _connect(url: str, websockets: Any, proc: subprocess.Popen[bytes]) -> Any:
    deadline = time.monotonic() + 60
    while True:
        try:
            return await websockets.connect(url, max_size=None, proxy=None)
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


# ---------------------------------------------------------------- WebKitGTK (Selenium)


class _SeleniumTab:
    engine = "webkit"

    def __init__(self, driver: Any) -> None:
        self.driver = driver

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.to_thread(fn, *args)

    async def goto(self, url: str) -> None:
        await self._run(self.driver.get, url)

    async def call(self, fn: str) -> Any:
        script = (
            "const done = arguments[arguments.length - 1];"
            f"Promise.resolve().then(() => ({fn})()).then((v) => done(JSON.stringify(v ?? null)), (e) => done(JSON.stringify({{__error: String(e)}})));"
        )
        raw = await self._run(self.driver.execute_async_script, script)
        value = json.loads(raw)
        if isinstance(value, dict) and "__error" in value:
            raise RuntimeError(value["__error"])
        return value

    async def click(self, css: str) -> None:
        from selenium.webdriver.common.by import By

        def go() -> None:
            self.driver.find_element(By.CSS_SELECTOR, css).click()

        await self._run(go)

    async def type(self, text: str) -> None:
        from selenium.webdriver.common.action_chains import ActionChains

        keys = "".join(v for _, v in _pairs(text))
        await self._run(lambda: ActionChains(self.driver).send_keys(keys).perform())

    async def press(self, chord: str) -> None:
        from selenium.webdriver.common.action_chains import ActionChains

        parts = _chord(chord)

        def go() -> None:
            chain = ActionChains(self.driver)
            for p in parts:
                chain.key_down(p)
            for p in reversed(parts):
                chain.key_up(p)
            chain.perform()

        await self._run(go)

    async def screenshot(self, path: Path) -> None:
        await self._run(self.driver.save_screenshot, str(path))


class _WebKit:
    name = "webkit"

    def __init__(self, displays: contextlib.ExitStack) -> None:
        self.displays = displays
        self.drivers: list[Any] = []
        self.version = ""

    async def profile(self) -> Tab:
        # Each MiniBrowser on its own X server: with no window manager they would stack on one
        # screen, and WebKit then never finishes a screenshot of a window under another.
        display = self.displays.enter_context(xvfb())
        driver = await asyncio.to_thread(self._start, display)
        self.drivers.append(driver)
        self.version = str(driver.capabilities.get("browserVersion", ""))
        return _SeleniumTab(driver)

    def _start(self, display: str) -> Any:
        from selenium import webdriver
        from selenium.webdriver.webkitgtk.service import Service

        options = webdriver.WebKitGTKOptions()
        options.binary_location = str(minibrowser())
        options.add_argument("--automation")
        env = {**os.environ, "DISPLAY": display, "WEBKIT_DISABLE_COMPOSITING_MODE": "1"}
        # One session is one MiniBrowser with its own ephemeral storage: a second person.
        driver = webdriver.WebKitGTK(options=options, service=Service(WEBKIT_DRIVER, env=env))
        driver.set_window_rect(0, 0, VIEWPORT[0], VIEWPORT[1])
        driver.set_script_timeout(30)
        return driver

    async def close(self) -> None:
        for driver in self.drivers:
            try:
                await asyncio.wait_for(asyncio.to_thread(driver.quit), 15)
            except Exception:
                # A MiniBrowser that will not end its session: end its driver; losing the X
                # server (below) ends MiniBrowser itself.
                with contextlib.suppress(Exception):
                    driver.service.process.kill()


@contextlib.contextmanager
def xvfb() -> Any:
    """A private X server; its DISPLAY name."""
    read, write = os.pipe()
    proc = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "1400x900x24", "-nolisten", "tcp"],
                            pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write)
    try:
        with os.fdopen(read) as pipe:
            number = pipe.readline().strip()
        if not number:
            raise RuntimeError("Xvfb did not start")
        yield f":{number}"
    finally:
        proc.terminate()
        proc.wait(10)


@contextlib.asynccontextmanager
async def _webkit() -> AsyncIterator[Engine]:
    with contextlib.ExitStack() as displays:
        engine = _WebKit(displays)
        try:
            yield engine
        finally:
            await engine.close()


def launch(engine: str) -> contextlib.AbstractAsyncContextManager[Engine]:
    return {"chromium": _chromium, "firefox": _firefox, "webkit": _webkit}[engine]()


async def wait_for(tab: Tab, fn: str, timeout: float = 20.0, what: str = "") -> Any:
    """Poll the page until ``fn`` returns something truthy; that value."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = await tab.call(fn)
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"{tab.engine}: timed out waiting for {what or fn} (last: {last!r})")
        await asyncio.sleep(0.1)
