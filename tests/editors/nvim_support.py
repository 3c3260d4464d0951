"""Headless Neovims with the plugin from editors/nvim, and a Python participant on its own thread.

pynvim runs its own event loop in the calling thread, so these tests are plain functions; the
Python participant (and the AI agent) live on an asyncio loop in a background thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterator, TypeVar

import pynvim  # type: ignore[import-untyped]
import pytest

from collab.client.session import Session

T = TypeVar("T")
PLUGIN = Path(__file__).resolve().parents[2] / "editors" / "nvim"
BRIDGE = [sys.executable, "-m", "collab.cli", "editor"]

needs_nvim = pytest.mark.skipif(shutil.which("nvim") is None, reason="Neovim is not installed (apt-get install neovim)")


def wait_for(check: Callable[[], T], timeout: float = 20.0, what: str = "condition") -> T:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


class Editor:
    """One Neovim with the plugin loaded, its bridge started by the plugin."""

    def __init__(self, nvim: pynvim.Nvim) -> None:
        self.nvim = nvim

    def lua(self, code: str, *args: Any) -> Any:
        return self.nvim.exec_lua(code, *args)

    def state(self, key: str) -> Any:
        return self.lua("return require('collab').state[...]", key)

    def join(self, link: str, name: str) -> None:
        self.nvim.command(f"CollabJoin {link} {name}")
        wait_for(lambda: self.state("room"), 30, f"{name} joins")

    def open(self, path: str) -> int:
        self.nvim.command(f"CollabOpen {path}")
        buf: int = self.lua("return vim.api.nvim_get_current_buf()")
        return buf

    def text(self, buf: int = 0) -> str:
        lines: list[str] = self.lua("return vim.api.nvim_buf_get_lines(..., 0, -1, false)", buf)
        return "\n".join(lines)

    def extmarks(self, namespace: str, buf: int = 0) -> list[list[Any]]:
        marks: list[list[Any]] = self.lua(
            "local ns = require('collab.ui')[select(2, ...)]\n"
            "return vim.api.nvim_buf_get_extmarks(select(1, ...), ns, 0, -1, {details = true})",
            buf, namespace,
        )
        return marks


@contextlib.contextmanager
def editor() -> Iterator[Editor]:
    nvim = pynvim.attach(
        "child",
        argv=["nvim", "--embed", "--headless", "-u", "NONE", "-i", "NONE", "-n",
              "--cmd", f"set rtp^={PLUGIN}", "--cmd", "runtime plugin/collab.lua"],
    )
    try:
        nvim.exec_lua("require('collab').setup({cmd = ...})", BRIDGE)
        yield Editor(nvim)
    finally:
        with contextlib.suppress(Exception):
            nvim.exec_lua("require('collab').leave()")
        with contextlib.suppress(Exception):
            nvim.close()


class Participant:
    """A Python participant on a loop of its own (a background thread)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.stack = contextlib.AsyncExitStack()
        self.session: Session | None = None

    def run(self, coro: Awaitable[T], timeout: float = 30.0) -> T:
        async def wrapped() -> T:
            return await coro

        return asyncio.run_coroutine_threadsafe(wrapped(), self.loop).result(timeout)

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the participant's loop (pycrdt documents are not shared across threads)."""

        async def wrapped() -> T:
            return fn()

        return self.run(wrapped())

    def join(self, link: str, name: str) -> Session:
        async def go() -> Session:
            return await self.stack.enter_async_context(Session.connect(link, name=name))

        self.session = self.run(go())
        return self.session

    def enter(self, context: Any) -> Any:
        return self.run(self.stack.enter_async_context(context))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.run(self.stack.aclose())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@contextlib.contextmanager
def participant() -> Iterator[Participant]:
    p = Participant()
    try:
        yield p
    finally:
        p.close()
