"""What a person does on the session page, written once against tests/support/engines.Tab."""

from __future__ import annotations

import json

from tests.support.engines import Tab, wait_for

# The editor's text line by line, without the widgets drawn into it (remote cursors' name labels,
# ghost text): those are contenteditable=false, and textContent would read them as text.
EDITOR_TEXT = """() => {
  const content = document.querySelector('.cm-content');
  if (!content) return null;
  const text = (node) => node.nodeType === 3 ? node.data
    : node.nodeType === 1 && node.getAttribute('contenteditable') !== 'false' && !node.classList.contains('cm-widgetBuffer')
      ? Array.from(node.childNodes).map(text).join('') : '';
  return Array.from(content.querySelectorAll(':scope > .cm-line')).map(text).join('\\n');
}"""


def js(value: object) -> str:
    return json.dumps(value)


async def text_of(tab: Tab, css: str) -> str:
    return str(await tab.call(f"() => document.querySelector({js(css)})?.textContent ?? ''"))


async def wait_text(tab: Tab, css: str, needle: str, timeout: float = 20.0) -> None:
    await wait_for(tab, f"() => (document.querySelector({js(css)})?.textContent ?? '').includes({js(needle)})", timeout, f"{needle!r} in {css}")


async def wait_connected(tab: Tab) -> None:
    await wait_for(tab, "() => document.querySelector('#connection-status')?.textContent === 'Connected'", 30, "Connected")


async def fill(tab: Tab, css: str, text: str) -> None:
    """Focus a field by clicking it, clear it, type like a person."""
    await wait_for(tab, f"() => !!document.querySelector({js(css)})", 20, css)
    await tab.click(css)
    await tab.call(f"() => {{ const el = document.querySelector({js(css)}); el.select(); }}")
    await tab.type(text)


async def link_of(tab: Tab) -> str:
    """The link with its key: the page moves the key out of the address bar (fragment.ts)."""
    return str(await tab.call(
        "() => { const kept = sessionStorage.getItem('collab.link-key ' + location.pathname);"
        " return kept && !location.hash ? location.href + kept : location.href; }"
    ))


async def start_session(tab: Tab, base: str, name: str) -> str:
    await tab.goto(base + "/")
    await fill(tab, "#name", name)
    await tab.click("#start")
    await wait_for(tab, "() => location.pathname.startsWith('/s/')", 20, "the session page")
    await wait_connected(tab)
    return await link_of(tab)


async def join(tab: Tab, link: str, name: str) -> None:
    await tab.goto(link)
    await fill(tab, "#dialog-input", name)
    await tab.press("Enter")
    await wait_connected(tab)


async def create_file(tab: Tab, path: str) -> None:
    await tab.click("#new-file")
    await fill(tab, "#dialog-input", path)
    await tab.press("Enter")
    await wait_text(tab, "#editor-heading", path)


async def type_at(tab: Tab, text: str, *, where: str = "End") -> None:
    """Type into the editor at the end (or start) of the file."""
    await wait_for(tab, "() => document.querySelector('.cm-content')?.getAttribute('contenteditable') === 'true'", 20, "an editable editor")
    await tab.click(".cm-content")
    await tab.press(f"Control+{where}")
    await tab.type(text)


async def editor_text(tab: Tab) -> str:
    return str(await tab.call(EDITOR_TEXT))


async def send_chat(tab: Tab, message: str) -> None:
    await fill(tab, "#chat-input", message)
    await tab.press("Enter")


async def local_records(tab: Tab) -> int:
    """How many records this profile's IndexedDB keeps for rooms (web/src/storage/local.ts)."""
    return int(await tab.call(
        "() => new Promise((resolve, reject) => { const open = indexedDB.open('collab');"
        " open.onerror = () => reject(open.error);"
        " open.onsuccess = () => { const db = open.result;"
        "  if (!db.objectStoreNames.contains('rooms')) { db.close(); return resolve(0); }"
        "  const req = db.transaction('rooms').objectStore('rooms').count();"
        "  req.onsuccess = () => { db.close(); resolve(req.result); }; req.onerror = () => reject(req.error); }; })"
    ))
