"""Pinned agents (docs/e2ee.md "Pinned agents"): the page pins an agent's key on first use, refuses
to seal to a changed key unless the person confirms after comparing fingerprints, and shows an agent
as confirmed only once it proves, in the encrypted document, that it holds the key sealed to."""

from __future__ import annotations

import asyncio
import json
import os
import re
from pathlib import Path
from typing import Any

import httpx
import pycrdt
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from collab.client.session import Session
from collab.crypto.encoding import b64url_encode, fingerprint
from collab.crypto.invite_ack import ACKS_MAP, InviteAck, make_ack
from collab.crypto.sealing import SealedInvite, public_bytes
from collab.workspace import presence
from tests.ai_web.support import agent_process
from tests.support.hub_process import HubProcess
from tests.support.openai_stub_server import OpenAIStubServer
from tests.web.browser import browser_unavailable, chromium, new_page, start_session

pytestmark = pytest.mark.skipif(browser_unavailable() is not None, reason=str(browser_unavailable()))


async def _listed(page: Any, name: str) -> Any:
    item = page.locator(f"#agents-list li[data-agent={name}]")
    for _ in range(100):
        if await item.count():
            return item
        await page.get_by_role("button", name="Refresh").click()
        await asyncio.sleep(0.2)
    raise AssertionError(f"the page never listed {name}")


async def _invites(hub: HubProcess, name: str) -> list[dict[str, str]]:
    async with httpx.AsyncClient(base_url=hub.url) as http:
        invites: list[dict[str, str]] = (await http.get(f"/api/agents/{name}/invites")).json()["invites"]
        return invites


async def test_first_invite_pins_the_key_the_agent_confirms_and_a_changed_key_is_refused(
    tmp_path: Path, stub: OpenAIStubServer
) -> None:
    from playwright.async_api import expect

    hub = HubProcess(tmp_path / "hub").start()
    try:
        async with agent_process(["--serve", "--hub", hub.url, "--name", "pair", "--data", str(tmp_path / "agent")], stub) as agent, \
                chromium() as browser:
            ada = await new_page(browser, hub.url)
            await start_session(ada, "Ada")
            item = await _listed(ada, "pair")
            printed = re.search(r"key fingerprint ((?:[0-9a-f]{4} ?){8})", agent.output())
            assert printed, agent.output()
            real = printed.group(1).strip()

            # First use: the dialog says the key will be pinned; the agent then proves it holds it.
            await item.get_by_role("button", name="Invite pair").click()
            dialog = ada.get_by_role("dialog")
            await expect(dialog).to_contain_text("will remember (pin)")
            await dialog.get_by_role("button", name="Invite").click()
            await expect(item.locator(".agent-state")).to_have_text(f"pair joined (fingerprint {real}, confirmed)", timeout=30_000)
            pins = json.loads(await ada.evaluate("localStorage.getItem('collab.agent-pins.v1')"))
            assert [p["fingerprint"] for k, p in pins.items() if k.endswith(" pair")] == [real]
            await expect(ada.locator("#agents-warning")).to_have_text("")

            await item.get_by_role("button", name="Remove pair from this session").click()
            await ada.get_by_role("dialog").get_by_role("button", name="Remove").click()
            await expect(ada.locator("#people-list li[data-name=pair]")).to_have_count(0, timeout=40_000)

            # A hub that lists another key under the same name (a stand-in: the listing rewritten on its way).
            other = public_bytes(X25519PrivateKey.generate())

            async def lying_listing(route: Any) -> None:
                response = await route.fetch()
                data = await response.json()
                for a in data["agents"]:
                    if a["name"] == "pair":
                        a["public_key"], a["fingerprint"] = b64url_encode(other), fingerprint(other)
                await route.fulfill(response=response, json=data)

            await ada.route("**/api/agents", lying_listing)
            await ada.get_by_role("button", name="Refresh").click()
            await expect(item.locator(".key-changed")).to_contain_text(f"pinned: {real}")
            before = len(await _invites(hub, "pair"))
            await item.get_by_role("button", name="Invite pair").click()
            dialog = ada.get_by_role("dialog")
            await expect(dialog.locator("#keychange-old")).to_have_text(real)
            await expect(dialog.locator("#keychange-new")).to_have_text(fingerprint(other))
            await expect(dialog.get_by_role("button", name="Seal to the new key")).to_be_disabled()
            await dialog.get_by_role("button", name="Cancel").click()
            await expect(ada.locator("#agents-warning")).to_contain_text("Not invited: pair's key changed")
            await asyncio.sleep(0.5)
            assert len(await _invites(hub, "pair")) == before  # nothing was sealed or posted

            # Confirmed explicitly after comparing: only then is an invite sealed (to the new key, which
            # the real agent cannot open), and the new key is pinned from then on.
            await item.get_by_role("button", name="Invite pair").click()
            dialog = ada.get_by_role("dialog")
            await dialog.get_by_label(re.compile("I compared the new fingerprint")).check()
            await dialog.get_by_role("button", name="Seal to the new key").click()
            for _ in range(100):
                if len(await _invites(hub, "pair")) == before + 1:
                    break
                await asyncio.sleep(0.1)
            assert len(await _invites(hub, "pair")) == before + 1
            await expect(item.locator(".agent-state")).to_have_text("Invited, joining…")
            pins = json.loads(await ada.evaluate("localStorage.getItem('collab.agent-pins.v1')"))
            assert [p["fingerprint"] for k, p in pins.items() if k.endswith(" pair")] == [fingerprint(other)]
            for _ in range(100):
                if "dropped an invite" in agent.output():
                    break
                await asyncio.sleep(0.1)
            assert "dropped an invite" in agent.output()
            assert ada.errors == []
    finally:
        hub.stop()


async def test_a_join_claiming_the_invite_without_proof_warns(tmp_path: Path) -> None:
    """Someone who has the room's link (not the key sealed to) joins as the invited agent."""
    from playwright.async_api import expect

    hub = HubProcess(tmp_path / "hub").start()
    key = X25519PrivateKey.generate()
    try:
        async with httpx.AsyncClient(base_url=hub.url) as http:
            body = {"name": "pair", "public_key": b64url_encode(public_bytes(key)), "model": "m", "backend": "b"}
            assert (await http.post("/api/agents", json=body)).status_code == 200
        async with chromium() as browser:
            ada = await new_page(browser, hub.url)
            link = await start_session(ada, "Ada")
            item = await _listed(ada, "pair")
            await item.get_by_role("button", name="Invite pair").click()
            await ada.get_by_role("dialog").get_by_role("button", name="Invite").click()
            invites: list[dict[str, str]] = []
            for _ in range(100):
                invites = await _invites(hub, "pair")
                if invites:
                    break
                await asyncio.sleep(0.1)
            invite = SealedInvite.from_json(invites[-1])

            async with Session.connect(link, name="pair") as forger:
                state = presence("pair", "#123456")
                state["agent"] = {"name": "pair", "model": "m", "backend": "b", "local": False, "busy": 0}
                forger.awareness.set_local_state(state)
                acks = forger.doc.get(ACKS_MAP, type=pycrdt.Map)
                fake = InviteAck(b64url_encode(invite.ephemeral), "pair", b64url_encode(public_bytes(key)),
                                 forger.doc.client_id, os.urandom(32))
                with forger.doc.transaction():
                    acks[fake.invite_id] = fake.to_json()
                await expect(ada.locator("#agents-warning")).to_contain_text(
                    "a participant calling itself pair claims this invite but did not prove it holds the key you sealed to")
                await expect(item.locator(".agent-state")).to_contain_text("Warning:")

                # The holder of the key sealed to (this test holds it) proves it: the warning clears.
                with forger.doc.transaction():
                    acks[fake.invite_id] = make_ack(invite, key, "pair", forger.doc.client_id).to_json()
                await expect(item.locator(".agent-state")).to_have_text(
                    f"pair joined (fingerprint {fingerprint(public_bytes(key))}, confirmed)")
                await expect(ada.locator("#agents-warning")).to_have_text("")
    finally:
        hub.stop()
