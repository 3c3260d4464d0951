"""Inviting an agent service from the page into an encrypted room; the hub sees only ciphertext."""

from __future__ import annotations

import asyncio
import base64
import re
from pathlib import Path

import httpx
import pytest

from collab.crypto.keys import b64url_decode
from tests.ai_web.support import agent_process, hub_bytes
from tests.support.hub_process import HubProcess
from tests.support.openai_stub_server import OpenAIStubServer, Reply
from tests.web.browser import ARTIFACTS, browser_unavailable, chromium, create_file, new_page, start_session, type_in_editor

pytestmark = pytest.mark.skipif(browser_unavailable() is not None, reason=str(browser_unavailable()))

ANSWER = ["Use ", "`sum`", ":\n\n```python\n", "def total(items):\n", "    return sum(items)\n", "```\n", "ZEBRAQUOKKA done."]


async def test_page_invites_the_agent_service_and_the_hub_sees_no_secret(tmp_path: Path, stub: OpenAIStubServer) -> None:
    from playwright.async_api import expect

    hub = HubProcess(tmp_path / "hub", "--log-level", "debug").start()
    stub.script(Reply(tokens=ANSWER, delay=0.1, pause_after=4))
    # Inline completions off: the scripted answer is for the chat request, and a completion asked
    # while Ada types would take it first (tests/ai_web/test_inline_ghost.py covers those).
    serve = ["--serve", "--hub", hub.url, "--name", "pair", "--data", str(tmp_path / "agent"), "--inline", "off"]
    try:
        async with agent_process(serve, stub) as agent, \
                chromium() as browser:
            ada = await new_page(browser, hub.url)
            link = await start_session(ada, "Ada")
            secret_text = link.split("#k=", 1)[1]
            await create_file(ada, "calc.py")
            await type_in_editor(ada, "PANGOLINPLUM = [1, 2]")

            # The page lists the agent with the fingerprint the service printed, and invites it.
            printed = re.search(r"key fingerprint ((?:[0-9a-f]{4} ?){8})", await asyncio.to_thread(_wait_line, agent, "key fingerprint"))
            assert printed
            item = ada.locator("#agents-list li[data-agent=pair]")
            for _ in range(50):
                if await item.count():
                    break
                await ada.get_by_role("button", name="Refresh").click()
                await asyncio.sleep(0.2)
            await expect(item.locator(".fingerprint")).to_have_text(printed.group(1).strip())
            await item.get_by_role("button", name="Invite pair").click()
            dialog = ada.get_by_role("dialog")
            await expect(dialog).to_contain_text(printed.group(1).strip())
            await dialog.get_by_role("button", name="Invite").click()
            await expect(ada.locator("#people-list li[data-name=pair]")).to_contain_text("AI · stub-model")
            # The agent proved it holds the key the page sealed to (its invite-ack): confirmed.
            await expect(item.locator(".agent-state")).to_have_text(f"pair joined (fingerprint {printed.group(1).strip()}, confirmed)")

            # Ask from the editor: the agent reads the file from the asker's presence; the answer streams.
            await ada.locator(".cm-content").click()
            await ada.get_by_role("button", name="Explain").click()
            request = (await asyncio.to_thread(stub.wait_for_requests, 1))[0]
            await asyncio.to_thread(request.paused.wait, 15)
            assert "PANGOLINPLUM" in str(request.body["messages"])
            answer = ada.locator("#chat-log li.msg.ai")
            await expect(answer).to_contain_text("writing…")
            await expect(answer.locator("pre.code")).to_contain_text("def total(items):")
            await expect(ada.locator("#people-list li[data-name=pair] .ai-activity")).to_contain_text("writing an answer for Ada")
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            await ada.screenshot(path=str(ARTIFACTS / "ai-chat-streaming.png"))
            request.resume.set()
            await expect(answer).to_contain_text("ZEBRAQUOKKA done.")
            await expect(answer.locator(".tok-keyword").first).to_have_text("def")

            # "Insert at cursor" puts the code block into the open file.
            await ada.locator(".cm-content").click()
            await ada.keyboard.press("Control+End")
            await ada.keyboard.press("Enter")
            await answer.get_by_role("button", name="Insert at cursor").click()
            await expect(ada.locator(".cm-content")).to_contain_text("return sum(items)")

            # Remove: the agent leaves the room.
            await item.get_by_role("button", name="Remove pair from this session").click()
            await ada.get_by_role("dialog").get_by_role("button", name="Remove").click()
            await expect(ada.locator("#people-list li[data-name=pair]")).to_have_count(0, timeout=40_000)
            assert ada.errors == []  # type: ignore[attr-defined]

            async with httpx.AsyncClient(base_url=hub.url) as http:
                relayed = (await http.get("/api/agents/pair/invites")).text
        out = agent.output()
    finally:
        hub.stop()
    assert "joined room" in out and "removed by a participant" in out
    raw = b64url_decode(secret_text)
    stored = hub_bytes(hub.data)
    for where, data in (("store", stored), ("hub log", hub.log().encode()), ("relayed invites", relayed.encode()),
                        ("agent log", out.encode())):
        assert secret_text.encode() not in data, where
        assert raw not in data, where
        assert base64.b64encode(raw).rstrip(b"=") not in data, where
        for plaintext in (b"PANGOLINPLUM", b"ZEBRAQUOKKA", b"stub-model"):
            if where != "agent log":
                assert plaintext not in data, (where, plaintext)
    assert '"ciphertext"' in relayed  # the hub holds the invite: sealed


def _wait_line(agent, text: str, timeout: float = 20.0) -> str:  # type: ignore[no-untyped-def]
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in agent.lines:
            if text in line:
                return line
        time.sleep(0.05)
    raise AssertionError(f"the agent never printed {text!r}:\n{agent.output()}")
