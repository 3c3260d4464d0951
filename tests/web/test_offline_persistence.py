"""Edits made offline survive closing the tab: the page keeps each room in IndexedDB (sealed for
encrypted rooms), shows it at once when the link is opened again, and sends what the hub missed."""

from __future__ import annotations

import re

import pytest

from tests.support.hub_process import HubProcess
from tests.support.store_file import log_rows
from tests.web.browser import (
    browser_unavailable,
    chromium,
    create_file,
    editor,
    join,
    new_page,
    page_in,
    start_session,
    type_in_editor,
    wait_connected,
)

pytestmark = pytest.mark.skipif(browser_unavailable() is not None, reason=str(browser_unavailable()))

# Every record the page keeps in IndexedDB, as text: key, clear metadata, and the stored bytes as latin-1.
READ_INDEXEDDB = """
async () => {
  const wait = (req) => new Promise((ok, fail) => { req.onsuccess = () => ok(req.result); req.onerror = () => fail(req.error); });
  const db = await wait(indexedDB.open("collab"));
  try {
    if (!db.objectStoreNames.contains("rooms")) return [];
    const store = db.transaction("rooms").objectStore("rooms");
    const [keys, values] = await Promise.all([wait(store.getAllKeys()), wait(store.getAll())]);
    const latin1 = (b) => Array.from(b, (c) => String.fromCharCode(c)).join("");
    return keys.map((k, i) => JSON.stringify(k) + " " + JSON.stringify({ ...values[i], blob: null }) + " " + latin1(values[i].blob));
  } finally {
    db.close();
  }
}
"""


def _db_bytes(hub: HubProcess) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(hub.data.rglob("*")) if p.is_file())


def _room(link: str) -> str:
    return link.split("/s/", 1)[1].split("#", 1)[0]


async def _type_offline_and_close(ada, marker: str) -> None:  # type: ignore[no-untyped-def]
    """Ada loses the network, types, waits until the page says her edits are kept, closes the tab."""
    from playwright.async_api import expect

    await ada.context.set_offline(True)
    status = ada.locator("#connection-status")
    await expect(status).to_contain_text("Offline")
    await type_in_editor(ada, f"\n{marker} = 2")
    await expect(status).to_contain_text("kept in this browser")
    await ada.close()
    await ada.context.set_offline(False)


async def _ada_and_grace(browser, hub: HubProcess, path: str, *, plaintext: bool = False):  # type: ignore[no-untyped-def]
    """Ada starts a room, creates ``path`` and types a line; Grace, in another profile, sees it."""
    from playwright.async_api import expect

    ada = await new_page(browser, hub.url)
    link = await start_session(ada, "Ada", plaintext=plaintext)
    await create_file(ada, path)
    await type_in_editor(ada, "online = 1")
    grace = await new_page(browser, hub.url)
    await join(grace, link, "Grace")
    await expect(editor(grace)).to_contain_text("online = 1")
    return ada, grace, link


async def test_encrypted_offline_edits_survive_closing_the_tab_and_stay_sealed(hub: HubProcess) -> None:
    from playwright.async_api import expect

    marker = "typedWhileOfflineZq7"
    async with chromium() as browser:
        ada = await new_page(browser, hub.url)
        link = await start_session(ada, "Ada")
        assert "#k=" in link
        await create_file(ada, "notes.py")
        await type_in_editor(ada, "online = 1")
        grace = await new_page(browser, hub.url)
        await join(grace, link, "Grace")
        await expect(editor(grace)).to_contain_text("online = 1")
        profile = ada.context

        await _type_offline_and_close(ada, marker)
        await expect(editor(grace)).not_to_contain_text(marker)

        # Reopened while the hub does not answer (its socket is held by the test): the kept copy
        # shows at once, and nothing in this browser's storage reads as what Ada typed.
        stalled = await page_in(profile)
        await stalled.route_web_socket(re.compile(r"/ws/"), lambda ws: None)
        await stalled.goto(link)
        await expect(editor(stalled)).to_contain_text(f"{marker} = 2")
        await expect(stalled.locator("#connection-status")).to_have_text("Connecting…")
        await expect(stalled.locator("#connection-status")).to_have_attribute("data-kept", "true")
        kept = await stalled.evaluate(READ_INDEXEDDB)
        assert kept, "the page kept nothing in IndexedDB"
        for record in kept:
            assert marker not in record and "notes.py" not in record, "IndexedDB holds the room in plaintext"
        await stalled.close()
        await expect(editor(grace)).not_to_contain_text(marker)

        # Reopened with the hub reachable: the edits the hub never got reach Grace.
        ada = await page_in(profile)
        await join(ada, link, None)
        await expect(editor(ada)).to_contain_text(f"{marker} = 2")
        await expect(editor(grace)).to_contain_text(f"{marker} = 2")
        await expect(ada.locator("#connection-status")).to_have_attribute("data-kept", "true")

        # Once acknowledged they are no longer unsent: opening the link again sends nothing.
        rows = len(log_rows(hub.data / "collab.sqlite3", _room(link)))
        await ada.reload()
        await wait_connected(ada)
        await expect(editor(ada)).to_contain_text(f"{marker} = 2")
        assert len(log_rows(hub.data / "collab.sqlite3", _room(link))) == rows
        assert ada.errors == [] and grace.errors == [] and stalled.errors == []  # type: ignore[attr-defined]

        for record in await ada.evaluate(READ_INDEXEDDB):
            assert marker not in record
    stored = _db_bytes(hub)
    assert len(stored) > 0
    assert marker.encode() not in stored, "the hub's disk holds what Ada typed in plaintext"
    assert marker not in hub.log()


async def test_plaintext_offline_edits_survive_closing_the_tab(hub: HubProcess) -> None:
    from playwright.async_api import expect

    marker = "plainOfflineXy4"
    async with chromium() as browser:
        ada, grace, link = await _ada_and_grace(browser, hub, "plain.py", plaintext=True)
        assert "#" not in link
        profile = ada.context

        await _type_offline_and_close(ada, marker)
        ada = await page_in(profile)
        await join(ada, link, None)
        await expect(editor(ada)).to_contain_text(f"{marker} = 2")
        await expect(editor(grace)).to_contain_text(f"{marker} = 2")
        # Plaintext rooms are stored as they are (the hub can read them anyway).
        assert any(marker in record for record in await ada.evaluate(READ_INDEXEDDB))


async def test_forget_on_this_device_deletes_the_kept_copy(hub: HubProcess) -> None:
    from playwright.async_api import expect

    async with chromium() as browser:
        ada = await new_page(browser, hub.url)
        await start_session(ada, "Ada")
        await create_file(ada, "gone.py")
        await expect(ada.locator("#connection-status")).to_have_attribute("data-kept", "true")
        assert await ada.evaluate(READ_INDEXEDDB) != []
        await ada.get_by_role("button", name="Forget on this device").click()
        await expect(ada.locator("#notice")).to_contain_text("no longer keeps a copy")
        await type_in_editor(ada, "after = 1")
        await expect(ada.locator("#connection-status")).to_have_text("Connected")
        assert await ada.evaluate(READ_INDEXEDDB) == []


async def test_a_read_only_link_never_pushes_what_a_write_link_kept(hub: HubProcess) -> None:
    from playwright.async_api import expect

    marker = "keptByTheWriterQ9"
    async with chromium() as browser:
        ada = await new_page(browser, hub.url)
        link = await start_session(ada, "Ada")
        await create_file(ada, "shared.py")
        await type_in_editor(ada, "online = 1")
        await ada.get_by_role("button", name="Copy read-only link").click()
        read_link = await ada.locator("#share-link").input_value()
        assert "#r=" in read_link
        grace = await new_page(browser, hub.url)
        await join(grace, link, "Grace")
        await expect(editor(grace)).to_contain_text("online = 1")
        profile = ada.context
        await _type_offline_and_close(ada, marker)

        # The same browser opens the read-only link: it neither shows nor sends the writer's unsent edits.
        rows = len(log_rows(hub.data / "collab.sqlite3", _room(link)))
        reader = await page_in(profile)
        await join(reader, read_link, None)
        await expect(editor(reader)).to_contain_text("online = 1")
        await expect(reader.locator("#connection-status")).to_have_attribute("data-kept", "true")
        await expect(editor(reader)).not_to_contain_text(marker)
        assert len(log_rows(hub.data / "collab.sqlite3", _room(link))) == rows
        await reader.close()
        await expect(editor(grace)).not_to_contain_text(marker)

        # The write link still has them, and sends them.
        ada = await page_in(profile)
        await join(ada, link, None)
        await expect(editor(grace)).to_contain_text(f"{marker} = 2")


# Until commit ca658b6 a write link's copy was sealed under HKDF(R, "collab v1 local-store"); now it
# is HKDF(S, "collab v1 local-store writer"). Called with [link, reseal]: with reseal, every write
# link record is turned into one the page before ca658b6 wrote (same associated data, old key);
# either way, returns for each write link record whether [the writer's key, the old key] opens it.
OLD_KEY_RECORDS = """
async ([link, reseal]) => {
  const S = Uint8Array.from(atob(new URL(link).hash.slice(3).replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
  const hkdf = async (secret, info) => new Uint8Array(await crypto.subtle.deriveBits(
    { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: new TextEncoder().encode(info) },
    await crypto.subtle.importKey("raw", secret, "HKDF", false, ["deriveBits"]), 256));
  const aes = async (raw) => crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]);
  const writerKey = await aes(await hkdf(S, "collab v1 local-store writer"));
  const oldKey = await aes(await hkdf(await hkdf(S, "collab v1 read"), "collab v1 local-store"));
  const wait = (req) => new Promise((ok, fail) => { req.onsuccess = () => ok(req.result); req.onerror = () => fail(req.error); });
  const db = await wait(indexedDB.open("collab"));
  try {
    const store = db.transaction("rooms").objectStore("rooms");
    const [keys, values] = await Promise.all([wait(store.getAllKeys()), wait(store.getAll())]);
    const records = keys.map((k, i) => [k, values[i]]).filter(([k]) => k[0] === "w");
    const aad = (k) => new TextEncoder().encode(`collab local-store v1\\nw\\n${k[1]}\\n${k[2]}`);
    const open = async (key, k, blob) => {
      try {
        return new Uint8Array(await crypto.subtle.decrypt({ name: "AES-GCM", iv: blob.slice(0, 12), additionalData: aad(k) }, key, blob.slice(12)));
      } catch {
        return null;
      }
    };
    if (reseal) {
      const old = [];
      for (const [k, v] of records) {
        const iv = crypto.getRandomValues(new Uint8Array(12));
        const sealed = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: aad(k) }, oldKey, await open(writerKey, k, v.blob)));
        const blob = new Uint8Array(12 + sealed.length);
        blob.set(iv);
        blob.set(sealed, 12);
        old.push([k, { ...v, blob }]);
      }
      const tx = db.transaction("rooms", "readwrite");
      for (const [k, v] of old) tx.objectStore("rooms").put(v, k);
      await new Promise((ok, fail) => { tx.oncomplete = ok; tx.onerror = () => fail(tx.error); });
      return old.map(() => [false, true]);
    }
    return Promise.all(records.map(async ([k, v]) => [(await open(writerKey, k, v.blob)) !== null, (await open(oldKey, k, v.blob)) !== null]));
  } finally {
    db.close();
  }
}
"""


async def test_a_writers_copy_sealed_under_the_old_key_is_sent_and_resealed(hub: HubProcess) -> None:
    """A write link's copy kept before ca658b6 (old key) still delivers its unsent edits, then is
    sealed under the writer's key: the upgrade loses no edit."""
    from playwright.async_api import expect

    marker = "keptBeforeTheUpgradeW3"
    async with chromium() as browser:
        ada, grace, link = await _ada_and_grace(browser, hub, "upgrade.py")
        profile = ada.context
        await _type_offline_and_close(ada, marker)

        # Rewrite the kept copy as the page before the change sealed it, from a document of the hub's
        # origin that runs no page code (so nothing re-saves it meanwhile).
        tool = await page_in(profile)
        await tool.goto("/static/favicon.svg")
        assert await tool.evaluate(OLD_KEY_RECORDS, [link, True]), "the write link kept no copy"
        assert set(map(tuple, await tool.evaluate(OLD_KEY_RECORDS, [link, False]))) == {(False, True)}
        await tool.close()
        await expect(editor(grace)).not_to_contain_text(marker)

        # The upgraded page opens it, sends what the hub never got, and keeps it under the writer's key.
        ada = await page_in(profile)
        await join(ada, link, None)
        await expect(editor(ada)).to_contain_text(f"{marker} = 2")
        await expect(editor(grace)).to_contain_text(f"{marker} = 2")
        await expect(ada.locator("#connection-status")).to_have_attribute("data-kept", "true")
        assert set(map(tuple, await ada.evaluate(OLD_KEY_RECORDS, [link, False]))) == {(True, False)}
        assert ada.errors == [] and grace.errors == []
