"""What the hub serves for the browser, and what the page says when something is wrong."""

from __future__ import annotations

import shutil
from pathlib import Path
import subprocess

import httpx
import pytest

from tests.support.hub_process import HubProcess
from tests.web.browser import CHROMIUM_ARGS, CHROMIUM, ROOT, browser_unavailable, chromium, editor, join, new_page, start_session, type_in_editor

needs_browser = pytest.mark.skipif(browser_unavailable() is not None, reason=str(browser_unavailable()))


def test_pages_and_assets_carry_security_headers(hub: HubProcess) -> None:
    with httpx.Client(base_url=hub.url) as http:
        for path in ("/", "/s/some-room", "/static/app.js", "/static/app.css"):
            r = http.get(path)
            assert r.status_code == 200, path
            csp = r.headers["content-security-policy"]
            assert "default-src 'self'" in csp and "script-src 'self'" in csp
            assert "frame-ancestors 'none'" in csp and "connect-src 'self'" in csp
            assert "unsafe-inline" not in csp.split("script-src", 1)[1].split(";", 1)[0]
            assert r.headers["referrer-policy"] == "no-referrer"
            assert r.headers["x-content-type-options"] == "nosniff"
            assert r.headers["x-frame-options"] == "DENY"
        assert http.get("/static/app.js").headers["content-type"].startswith("text/javascript")
        page = http.get("/s/room").text
        assert "<script type=\"module\" src=\"../static/app.js\"></script>" in page
        assert "<script>" not in page  # no inline scripts at all
        assert http.get("/s/bad$name").status_code == 404
        assert http.get("/static/nope.js").status_code == 404
        # API answers get the headers too, and nothing else changed for them.
        assert http.get("/healthz").headers["x-content-type-options"] == "nosniff"


@pytest.mark.skipif(shutil.which("node") is None or not (ROOT / "web" / "node_modules").exists(), reason="needs node and `npm ci --prefix web`")
def test_committed_bundle_matches_its_sources() -> None:
    result = subprocess.run(["node", "build.mjs", "--check"], cwd=ROOT / "web", capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


@needs_browser
async def test_the_page_explains_a_missing_secure_context(tmp_path: Path) -> None:
    from playwright.async_api import async_playwright, expect

    # A LAN-style name over plain http is not a secure context, so there is no crypto.subtle. A hub
    # served under a name must be told it (--allowed-hosts, docs/self-hosting.md "Host names").
    hub = HubProcess(tmp_path / "data", "--allowed-hosts", "collab-lan.test").start()
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(
                executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, "--host-resolver-rules=MAP collab-lan.test 127.0.0.1"]
            )
            try:
                page = await new_page(browser, f"http://collab-lan.test:{hub.port}")
                await page.goto("/")
                notice = page.locator("#secure-context")
                await expect(notice).to_contain_text("not in a secure context")
                await expect(notice).to_contain_text("https://")
                await expect(notice).to_contain_text("http://localhost")
                await expect(page.get_by_label("Plaintext room (not end-to-end encrypted)")).to_be_checked()
                await page.goto("/s/0td5h1UTY0RsR7ZKMfHAfQ#k=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8")
                await expect(page.get_by_role("alert")).to_contain_text("cannot open an encrypted session here")
                # A plaintext room still works without WebCrypto.
                link = await start_session(page, "Lan")
                assert "#" not in link
            finally:
                await browser.close()
    finally:
        hub.stop()


@needs_browser
async def test_a_damaged_link_says_what_is_wrong_without_quoting_the_key(hub: HubProcess) -> None:
    from playwright.async_api import expect

    async with chromium() as browser:
        page = await new_page(browser, hub.url)
        await page.goto("/s/0td5h1UTY0RsR7ZKMfHAfQ#k=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg")
        alert = page.get_by_role("alert")
        # The key lost its last character: the page says the link is incomplete, in plain words.
        await expect(alert).to_contain_text("This link is incomplete")
        await expect(alert).to_contain_text("cut off when it was copied")
        assert "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg" not in await alert.inner_text()


@needs_browser
async def test_read_only_link_shows_live_edits_but_cannot_edit(hub: HubProcess) -> None:
    from playwright.async_api import expect

    async with chromium() as browser:
        ada = await new_page(browser, hub.url)
        await start_session(ada, "Ada")
        await ada.get_by_role("button", name="New file").click()
        await ada.get_by_label("File path (for example src/app.py)").fill("doc.md")
        await ada.get_by_role("button", name="Create").click()
        await type_in_editor(ada, "# Shared")
        await ada.get_by_role("button", name="Copy read-only link").click()
        read_link = await ada.locator("#share-link").input_value()
        assert "#r=" in read_link

        viewer = await new_page(browser, hub.url)
        await join(viewer, read_link, "Viewer")
        await expect(viewer.locator(".badge")).to_have_text("End-to-end encrypted, read-only")
        await expect(editor(viewer)).to_contain_text("# Shared")
        await expect(editor(viewer)).to_have_attribute("contenteditable", "false")
        await expect(viewer.get_by_role("button", name="New file")).to_be_disabled()
        await type_in_editor(ada, "\nmore")
        await expect(editor(viewer)).to_contain_text("more")
        # Readers still show up in presence (awareness needs no signature).
        await expect(ada.locator("#people-list li[data-name=Viewer]")).to_be_visible()
