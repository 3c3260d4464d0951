"""The session's core flows in each engine a teammate may open the link in (Chromium, Firefox,
WebKit), with a second browser of the same engine and one of another engine in the same room.

Each flow is recorded (tests/artifacts/browsers.json) and the table in docs/browsers.md is
rendered from that record, so the page says what the last run saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import AsyncIterator

import pytest

from tests.browsers import page, report
from tests.support.engines import ENGINES, Tab, launch, unavailable, wait_for
from tests.support.hub_process import HubProcess
from tests.ai_web.support import agent_process
from tests.support.openai_stub_server import OpenAIStubServer, Reply
from tests.support.ports import free_port

ARTIFACTS = report.ROOT / "tests" / "artifacts"
# Whom each engine meets from another engine: Firefox and WebKit share a room both ways round.
PEER = {"chromium": "firefox", "firefox": "webkit", "webkit": "firefox"}


class Flows:
    """Which flows passed; the first failure is kept with its message and the rest are not run."""

    def __init__(self) -> None:
        self.result: dict[str, str] = {}

    @contextlib.asynccontextmanager
    async def step(self, name: str) -> AsyncIterator[None]:
        assert name in report.FLOWS
        try:
            yield
        except BaseException as exc:
            self.result[name] = f"fail: {type(exc).__name__}: {exc}"
            raise
        self.result[name] = "pass"


def _hub(data: Path, port: int) -> HubProcess:
    return HubProcess(data, "--room-idle-seconds", "0.5", port=port).start()


def _store(data: Path) -> bytes:
    """Every byte the hub keeps on disk: the SQLite file and its write-ahead log."""
    return b"".join(p.read_bytes() for p in sorted(data.rglob("*")) if p.is_file())


async def _same_text(tabs: list[Tab], *needles: str) -> str:
    deadline = time.monotonic() + 30
    while True:
        texts = [await page.editor_text(t) for t in tabs]
        if all(t == texts[0] for t in texts) and all(n in texts[0] for n in needles):
            return texts[0]
        if time.monotonic() > deadline:
            raise AssertionError(f"editors did not converge on {needles}: {texts!r}")
        await asyncio.sleep(0.1)


async def _ai_suggestion(asker: Tab, accepter: Tab, everyone: list[Tab], link: str) -> None:
    """The builtin agent (a real `collab agent` on the local OpenAI stub) answers "Complete here";
    the ghost text shows on every page, and a person of the other engine accepts it."""
    with OpenAIStubServer() as stub:
        stub.script(Reply(tokens=["total", " = sum(", "items)"]))
        async with agent_process([link, "--inline", "off"], stub):
            await page.wait_text(asker, "#people-list", "stub-model", 30)
            await asker.click(".cm-content")
            await asker.press("Control+End")
            await asker.click("#ai-suggest")
            for tab in everyone:
                await wait_for(tab, "() => document.querySelector('.cm-ghost')?.dataset.status === 'ready'"
                               " && document.querySelector('.cm-ghost-text')?.textContent === 'total = sum(items)'", 30, "the suggestion")
            await accepter.click(".cm-ghost-btn.accept")
            await _same_text(everyone, "total = sum(items)")
            for tab in everyone:
                await wait_for(tab, "() => !document.querySelector('.cm-ghost')", 15, "the ghost gone")


@pytest.mark.parametrize("engine", ENGINES)
async def test_core_flows(engine: str, tmp_path: Path) -> None:
    peer = PEER[engine]
    for needed in (engine, peer):
        why = unavailable(needed)
        if why:
            pytest.skip(why)
    flows = Flows()
    started = time.monotonic()
    version = "?"
    data, port = tmp_path / "data", free_port()
    hub = _hub(data, port)
    markers = [f"{engine}Ada7q", f"{engine}Grace3k", f"{peer}Lin5w", f"{engine}Offline9z", f"{engine}Chat2v"]
    try:
        async with launch(engine) as mine, launch(peer) as theirs:
            ada = await mine.profile()
            version = mine.version
            async with flows.step("start"):
                link = await page.start_session(ada, hub.url, "Ada")
                assert "#k=" in link, "sessions from the landing page are encrypted by default"
                await page.create_file(ada, "main.py")
                await page.type_at(ada, f"a = '{markers[0]}'")

            grace = await mine.profile()
            async with flows.step("join"):
                await page.join(grace, link, "Grace")
                await wait_for(grace, f"async () => ({page.EDITOR_TEXT})()?.includes({page.js(markers[0])})", 20, "Ada's text")

            lin = await theirs.profile()
            async with flows.step("cross_engine"):
                await page.join(lin, link, "Lin")
                await wait_for(lin, f"async () => ({page.EDITOR_TEXT})()?.includes({page.js(markers[0])})", 20, "Ada's text")

            async with flows.step("converge"):
                # At the same moment: Grace at the top, Lin at the bottom, Ada in the middle's end.
                await asyncio.gather(
                    page.type_at(grace, f"g = '{markers[1]}'\n", where="Home"),
                    page.type_at(lin, f"\nl = '{markers[2]}'"),
                )
                text = await _same_text([ada, grace, lin], markers[1], markers[2], markers[0])
                assert text.splitlines()[0] == f"g = '{markers[1]}'"

            async with flows.step("presence"):
                for tab, others in ((ada, ("Grace", "Lin")), (lin, ("Ada", "Grace"))):
                    for name in others:
                        await page.wait_text(tab, f"#people-list li[data-name={name}]", "in main.py")
                await page.type_at(ada, "\n")  # Ada's caret moves, so everyone draws it afresh
                for tab in (grace, lin):
                    await wait_for(tab, "() => Array.from(document.querySelectorAll('.cm-ySelectionInfo')).some((e) => e.dataset.name === 'Ada')", 20, "Ada's named caret")

            async with flows.step("chat"):
                await page.send_chat(lin, f"hello {markers[4]}")
                for tab in (ada, grace, lin):
                    await page.wait_text(tab, "#chat-log", markers[4])
                    await page.wait_text(tab, "#chat-log", "Lin")

            async with flows.step("ai"):
                await _ai_suggestion(ada, lin, [ada, grace, lin], link)

            await ada.screenshot(ARTIFACTS / f"browser-{engine}.png")

            async with flows.step("read_only"):
                await ada.click("#copy-readonly")
                read_link = str(await wait_for(ada, "() => document.querySelector('#share-link').value", 10, "the read-only link"))
                assert "#r=" in read_link
                reader = await mine.profile()
                await page.join(reader, read_link, "Reader")
                await page.wait_text(reader, ".topbar", "read-only")
                await wait_for(reader, f"async () => ({page.EDITOR_TEXT})()?.includes({page.js(markers[2])})", 20, "the file")
                assert await reader.call("() => document.querySelector('.cm-content').getAttribute('contenteditable')") == "false"
                before = await page.editor_text(reader)
                await reader.click(".cm-content")
                await reader.type("READONLYTYPED")
                # Ada types after the reader did: once the reader sees Ada's line, anything the
                # reader's page had sent would have arrived before it.
                await page.type_at(ada, "after = 1")
                await wait_for(reader, f"async () => ({page.EDITOR_TEXT})()?.includes('after = 1')", 20, "Ada's next line")
                assert "READONLYTYPED" not in await page.editor_text(reader)
                assert "READONLYTYPED" not in await page.editor_text(ada)
                assert before in (await page.editor_text(reader)).replace("after = 1", "")

            async with flows.step("offline"):
                hub.stop()
                await wait_for(ada, "() => !document.querySelector('#connection-status').textContent.startsWith('Connected')", 20, "the hub gone")
                await page.type_at(ada, f"\noff = '{markers[3]}'")
                await page.wait_text(ada, "#connection-status", "kept in this browser")
                await ada.goto("about:blank")  # the tab's page is gone: only the kept copy has the edit
                hub = _hub(data, port)
                await ada.goto(link)
                await page.wait_connected(ada)
                await wait_for(ada, f"async () => ({page.EDITOR_TEXT})()?.includes({page.js(markers[3])})", 20, "the offline edit")
                await _same_text([ada, grace, lin], markers[3])

            async with flows.step("forget"):
                assert await page.local_records(ada) > 0, "the page kept no copy of the room"
                await ada.click("#forget-local")
                await page.wait_text(ada, "#notice", "no longer keeps a copy")
                await page.type_at(ada, "\nafter_forget = 1")
                await _same_text([ada, lin], "after_forget = 1")
                assert await page.local_records(ada) == 0

            async with flows.step("no_plaintext"):
                stored = _store(data)
                assert stored, "the hub stored nothing"
                for marker in [*markers, "total = sum(items)"]:  # and the AI's accepted suggestion
                    assert marker.encode() not in stored, f"the hub's store holds {marker} in plaintext"
                    assert marker not in hub.log()
    finally:
        hub.stop()
        report.save(engine, {
            "version": version,
            "peer": peer,
            "flows": flows.result,
            "seconds": round(time.monotonic() - started),
            "when": time.strftime("%Y-%m-%d", time.gmtime()),
        })
    assert all(v == "pass" for v in flows.result.values())
    assert set(flows.result) == set(report.FLOWS)
