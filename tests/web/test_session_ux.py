"""The session page as a pair uses it (issue 17): follow mode, remote carets, status that does not
go stale, files, chat, and the small things. Real hub, real Chromium, two people."""

from __future__ import annotations

import re

import pytest

from tests.browsers.page import EDITOR_TEXT
from tests.support.hub_process import HubProcess
from tests.support.waiting import eventually
from tests.web.browser import (
    ARTIFACTS,
    browser_unavailable,
    chromium,
    create_file,
    editor,
    file_button,
    join,
    new_page,
    page_in,
    start_session,
    type_in_editor,
)

pytestmark = pytest.mark.skipif(browser_unavailable() is not None, reason=str(browser_unavailable()))


async def text_has(page, needle: str) -> None:  # type: ignore[no-untyped-def]
    """The editor's text (without widgets drawn into it) comes to contain ``needle``."""
    last = [""]

    async def check() -> bool:
        last[0] = str(await page.evaluate(EDITOR_TEXT))
        return needle in last[0]

    try:
        await eventually(check, 10)
    except AssertionError:
        raise AssertionError(f"{needle!r} not in the editor: {last[0]!r}") from None


def console_errors(page) -> list[str]:  # type: ignore[no-untyped-def]
    """Everything the page logs as an error (CodeMirror reports a crashed plugin this way)."""
    seen: list[str] = []
    page.on("console", lambda msg: seen.append(msg.text) if msg.type == "error" else None)
    return seen


async def test_follow_ends_when_you_act_and_presence_survives(hub: HubProcess) -> None:
    from playwright.async_api import expect

    async with chromium() as browser:
        ada = await new_page(browser, hub.url)
        link = await start_session(ada, "Ada")
        await create_file(ada, "a.py")
        await type_in_editor(ada, "one = 1\ntwo = 2\nthree = 3\n")
        await create_file(ada, "b.py")
        grace = await new_page(browser, hub.url)
        errors = console_errors(grace)
        await join(grace, link, "Grace")
        await grace.get_by_role("button", name="Follow Ada").click()
        banner = grace.locator("#follow-banner")
        await expect(banner).to_be_visible()
        await expect(banner).to_contain_text("Following Ada")
        # Ada moves and types: Grace's editor goes with her.
        await file_button(ada, "a.py").click()
        await type_in_editor(ada, "four = 4")
        await expect(grace.locator("#editor-heading")).to_have_text("a.py")
        await expect(editor(grace)).to_contain_text("four = 4")

        # Grace clicks into the editor: she acts on her own, so following ends, without a crash.
        await grace.locator(".cm-line", has_text="two = 2").click()
        await expect(grace.get_by_role("button", name="Follow Ada")).to_have_attribute("aria-pressed", "false")
        await expect(banner).to_be_hidden()
        await grace.keyboard.press("Home")
        await grace.keyboard.type("# grace ")
        await text_has(ada, "# grace two = 2")
        # Ada still sees Grace's caret, and it moves with her.
        await expect(ada.locator(".cm-ySelectionInfo[data-name=Grace]")).to_be_visible()
        await grace.keyboard.press("Control+Home")
        await grace.keyboard.type("#top\n")
        await text_has(ada, "#top")
        await expect(ada.locator(".cm-line", has_text="one = 1").locator(".cm-ySelectionInfo[data-name=Grace]")).to_have_count(1)
        assert not [e for e in errors if "crashed" in e or "update is in progress" in e], errors

        # Typing while following ends it too; so does the banner's Stop.
        await grace.get_by_role("button", name="Follow Ada").click()
        await expect(banner).to_be_visible()
        await editor(grace).focus()
        await grace.keyboard.type("x")
        await expect(grace.get_by_role("button", name="Follow Ada")).to_have_attribute("aria-pressed", "false")
        await grace.get_by_role("button", name="Follow Ada").click()
        await banner.get_by_role("button", name="Stop following").click()
        await expect(banner).to_be_hidden()
        await expect(grace.get_by_role("button", name="Follow Ada")).to_have_attribute("aria-pressed", "false")

        # "Jump to" goes where Ada is once, without following her.
        await file_button(grace, "b.py").click()
        await grace.get_by_role("button", name="Jump to Ada").click()
        await expect(grace.locator("#editor-heading")).to_have_text("a.py")
        await expect(grace.get_by_role("button", name="Follow Ada")).to_have_attribute("aria-pressed", "false")
        await file_button(ada, "b.py").click()
        await expect(ada.locator("#editor-heading")).to_have_text("b.py")
        await grace.wait_for_timeout(300)
        await expect(grace.locator("#editor-heading")).to_have_text("a.py")
        assert not [e for e in errors if "crashed" in e or "update is in progress" in e], errors
        assert grace.errors == []  # type: ignore[attr-defined]


# What Chrome's native editing once did to a remote caret next to a replaced selection: it carried
# the caret widget's children out of the widget into the line, where CodeMirror read them as text.
MOVE_CARET_INTO_LINE = """() => {
  const caret = document.querySelector('.cm-ySelectionCaret');
  const line = caret.closest('.cm-line');
  for (const node of Array.from(caret.childNodes)) line.append(node);
  return line.textContent;
}"""


async def test_a_remote_caret_name_never_becomes_document_text(hub: HubProcess) -> None:
    from playwright.async_api import expect

    from collab.client.session import Session

    source = "def area(r):\n    return 3.14 * r * r\n"
    async with chromium() as browser:
        ada = await new_page(browser, hub.url)
        link = await start_session(ada, "Ada")
        await create_file(ada, "area.py")
        await type_in_editor(ada, source)
        bob = await new_page(browser, hub.url)
        await join(bob, link, "Bob")
        await type_in_editor(bob, "")  # Bob's caret at the end of the last line
        caret = ada.locator(".cm-ySelectionCaret")
        await expect(caret).to_have_count(1)
        # The name is shown, but as an attribute drawn by CSS: no text node to carry away, and
        # screen readers reading the code do not hear it.
        await expect(caret.locator(".cm-ySelectionInfo")).to_have_attribute("data-name", "Bob")
        await expect(caret).to_have_attribute("aria-hidden", "true")
        label = await caret.locator(".cm-ySelectionInfo").evaluate("e => getComputedStyle(e, '::after').content")
        assert label == '"Bob"'
        assert await caret.evaluate("e => e.textContent") == ""
        before = str(await ada.evaluate(EDITOR_TEXT))
        # Select all, replace, undo, with Bob's caret at the end: the text is back, exactly.
        for _ in range(3):
            await editor(ada).click()
            await ada.keyboard.press("Control+a")
            await ada.keyboard.type("replaced")
            await ada.keyboard.press("Control+z")
            await text_has(ada, "return 3.14")
            await type_in_editor(bob, "")
        # Even the widget's insides moved into the line by the browser add nothing to the file.
        await caret.wait_for()
        await ada.evaluate(MOVE_CARET_INTO_LINE)
        await type_in_editor(ada, "# end")
        async with Session.connect(link, name="checker") as checker:
            await eventually(lambda: "# end" in (checker.workspace.read("area.py") or ""), 15)
            text = checker.workspace.read("area.py") or ""
        assert "Bob" not in text and "\u2060" not in text, repr(text)
        assert text == before + "# end", repr(text)
        assert ada.errors == [] and bob.errors == []  # type: ignore[attr-defined]


async def _register_agent(base: str, name: str) -> None:
    """What `collab agent --serve` does first: announce itself in the hub's agent directory."""
    import asyncio
    import json
    import urllib.request

    from collab.crypto.encoding import b64url_encode

    body = json.dumps({"name": name, "public_key": b64url_encode(bytes(range(32))), "model": "stub-model", "backend": "openai"}).encode()
    request = urllib.request.Request(f"{base}/api/agents", data=body, headers={"content-type": "application/json"}, method="POST")
    await asyncio.to_thread(lambda: urllib.request.urlopen(request, timeout=10).read())


async def test_status_on_the_page_does_not_go_stale(hub: HubProcess) -> None:
    from playwright.async_api import expect

    from collab.client.session import Session

    async with chromium() as browser:
        ada = await new_page(browser, hub.url)
        link = await start_session(ada, "Ada")
        # A notice is news: it goes after some seconds.
        await ada.get_by_role("button", name="Copy invite link").click()
        notice = ada.locator("#notice")
        await expect(notice).to_contain_text("Invite link")
        await expect(notice).to_have_text("", timeout=15_000)

        # The agents panel notices an agent service registered after the page opened.
        agents = ada.locator("#agents-list")
        await expect(agents).to_contain_text("No agent service is running")
        await _register_agent(hub.url, "helper")
        await expect(agents.locator("li[data-agent=helper]")).to_be_visible(timeout=15_000)
        await expect(agents).not_to_contain_text("No agent service is running")

        # Offline, the top bar stays one row.
        bar = ada.locator("header.topbar")
        online = (await bar.bounding_box())["height"]  # type: ignore[index]
        await ada.context.set_offline(True)
        await expect(ada.locator("#connection-status")).to_contain_text("Offline")
        offline = (await bar.bounding_box())["height"]  # type: ignore[index]
        assert offline <= online + 1, (online, offline)
        await ada.context.set_offline(False)
        await expect(ada.locator("#connection-status")).to_have_text("Connected")

        # A wide suggestion's buttons are far to the right; once it is dealt with, the editor
        # is back at the start of the lines.
        async with Session.connect(link, name="bot") as bot:
            bot.workspace.write("wide.py", "x = 1\ny = 2\n")
            await ada.locator(".cm-line", has_text="x = 1").click()
            await ada.keyboard.press("End")
            bot.workspace.create_suggestion("wide.py", 5, model="m", requested_by="Ada", status="ready", text=" + " + "a" * 400)
            reject = ada.get_by_role("button", name="Reject suggestion from m")
            await reject.click()  # scrolls the editor to the button
            await expect(ada.locator(".cm-ghost")).to_have_count(0)
            await eventually(lambda: ada.evaluate("document.querySelector('.cm-scroller').scrollLeft === 0"), 5)
        assert ada.errors == []  # type: ignore[attr-defined]


async def test_folders_quick_open_and_landing_where_you_were(hub: HubProcess) -> None:
    from playwright.async_api import expect

    async with chromium() as browser:
        ada = await new_page(browser, hub.url)
        link = await start_session(ada, "Ada")
        for path in (".gitignore", "src/app.py", "src/util.py", "README.md"):
            await create_file(ada, path)
        # Folders: src/ holds its files and collapses.
        folder = ada.locator('#file-list button.folder[data-folder="src"]')
        await expect(folder).to_have_attribute("aria-expanded", "true")
        await expect(file_button(ada, "src/app.py")).to_have_text("app.py")
        await folder.click()
        await expect(folder).to_have_attribute("aria-expanded", "false")
        await expect(file_button(ada, "src/app.py")).to_have_count(0)
        await folder.click()
        await expect(file_button(ada, "src/app.py")).to_be_visible()
        # A new file in a folder, and the caret is in it at once.
        await ada.get_by_role("button", name="Add a file to src/").click()
        await expect(ada.locator("#dialog-input")).to_have_value("src/")
        await ada.keyboard.type("new.py")
        await ada.keyboard.press("Enter")
        await expect(ada.locator("#editor-heading")).to_have_text("src/new.py")
        await ada.keyboard.type("fresh = 1")
        await text_has(ada, "fresh = 1")

        # Drag a file onto a folder to move it there, onto "Files" for the top level.
        await file_button(ada, "README.md").drag_to(ada.locator('#file-list button.folder[data-folder="src"]'))
        await expect(file_button(ada, "src/README.md")).to_be_visible()
        await expect(file_button(ada, "README.md")).to_have_count(0)
        await file_button(ada, "src/README.md").drag_to(ada.locator("#files-heading"))
        await expect(file_button(ada, "README.md")).to_be_visible()
        await expect(ada.locator("#editor-heading")).to_have_text("src/new.py")

        # Quick open: Ctrl+P, part of the name, Enter.
        await ada.keyboard.press("Control+p")
        await expect(ada.get_by_role("dialog")).to_be_visible()
        await ada.keyboard.type("utl")
        await expect(ada.locator("#quick-open-list [role=option]").first).to_have_text("src/util.py")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await ada.screenshot(path=str(ARTIFACTS / "quick-open.png"))
        await ada.keyboard.press("Enter")
        await expect(ada.locator("#editor-heading")).to_have_text("src/util.py")
        await expect(ada.get_by_role("dialog")).to_have_count(0)

        # A reload lands in the file you were in; someone new starts at the README, not .gitignore.
        await expect(ada.locator("#connection-status")).to_have_attribute("data-pending", "0")
        await ada.reload()
        await expect(ada.locator("#editor-heading")).to_have_text("src/util.py")
        grace = await new_page(browser, hub.url)
        await join(grace, link, "Grace")
        await expect(grace.locator("#editor-heading")).to_have_text("README.md")

        # Ctrl+F's search panel is laid out as CodeMirror means it: one compact row or two.
        await editor(grace).click()
        await grace.keyboard.press("Control+f")
        panel = grace.locator(".cm-search")
        await expect(panel).to_be_visible()
        box = await panel.bounding_box()
        assert box is not None and box["height"] < 90, box
        await grace.keyboard.type("README")
        await grace.screenshot(path=str(ARTIFACTS / "search-panel.png"))
        assert ada.errors == [] and grace.errors == []  # type: ignore[attr-defined]


async def test_chat_renders_markdown_safely_links_files_and_marks_unread(hub: HubProcess) -> None:
    from playwright.async_api import expect

    from collab.client.session import Session

    async with chromium() as browser:
        ada = await new_page(browser, hub.url)
        link = await start_session(ada, "Ada")
        await create_file(ada, "notes.md")
        async with Session.connect(link, name="Grace") as grace:
            grace.workspace.write("src/app.py", "".join(f"line_{i} = {i}\n" for i in range(1, 60)))
            grace.workspace.post_chat(
                "Grace",
                "**bold** and `code` and [docs](https://example.com/x) <img src=x onerror=alert(1)>"
                " [bad](javascript:alert(1)) see src/app.py:42 and nope.py:3\n- one\n- two",
            )
            log = ada.locator("#chat-log")
            await expect(log.locator("strong")).to_have_text("bold")
            await expect(log.locator("p code")).to_have_text("code")
            await expect(log.locator("a[href='https://example.com/x']")).to_have_text("docs")
            await expect(log.locator("ul.md-list li")).to_have_count(2)
            assert await log.locator("img").count() == 0
            await expect(log).to_contain_text("<img src=x onerror=alert(1)>")
            assert await log.locator("a[href^='javascript']").count() == 0
            assert await log.locator("button.file-ref").count() == 1  # nope.py is no file here
            # A file:line mention opens the file at that line.
            await log.get_by_role("button", name="src/app.py:42").click()
            await expect(ada.locator("#editor-heading")).to_have_text("src/app.py")
            await expect(ada.locator(".cm-activeLine")).to_have_text("line_42 = 42")

            # An AI answer with a wide code block: it scrolls (not cut) and takes the focus.
            asked = grace.workspace.chat_entry(grace.workspace.post_chat("Grace", "@ai show me"))
            assert asked is not None
            wide = "x = [" + ", ".join(str(i) for i in range(120)) + "]"
            reply = grace.workspace.reply_to_chat(asked, claimed_by="ai#1", author="ai", text="Here:\n```python\n", model="m", status="streaming")
            answer = log.locator("li.msg.ai")
            await expect(answer).to_have_attribute("aria-busy", "true")
            before = await log.locator("li").count()
            ids = await log.locator("li").evaluate_all("els => els.map(e => e.dataset.id)")
            grace.workspace.append_chat(str(reply["id"]), wide + "\n```\n*done*")
            grace.workspace.finish_reply(reply, "done")
            await expect(answer).not_to_have_attribute("aria-busy", "true")
            pre = answer.locator("pre.code")
            await expect(pre).to_have_attribute("tabindex", "0")
            assert await pre.evaluate("e => e.scrollWidth > e.clientWidth && getComputedStyle(e).overflowX === 'auto'")
            panel = await ada.locator("section.chat").bounding_box()
            box = await pre.bounding_box()
            assert panel and box and box["x"] + box["width"] <= panel["x"] + panel["width"] + 1
            await expect(answer.locator("em")).to_have_text("done")
            await expect(ada.locator("#announcer")).to_contain_text("ai answered")
            # The list was changed in place: the same items, none rebuilt.
            assert await log.locator("li").count() == before
            assert await log.locator("li").evaluate_all("els => els.map(e => e.dataset.id)") == ids

            # Scrolled up, new messages are marked and counted.
            for i in range(25):
                grace.workspace.post_chat("Grace", f"filler {i}")
            await expect(log).to_contain_text("filler 24")
            await log.evaluate("e => { e.scrollTop = 0; }")
            await ada.wait_for_timeout(200)
            grace.workspace.post_chat("Grace", "are you there?")
            unread = ada.locator("#chat-unread")
            await expect(unread).to_have_text("1 new message ↓")
            await expect(log.locator("li.unread-first")).to_contain_text("are you there?")
            await unread.click()
            await expect(unread).to_be_hidden()
        assert ada.errors == []  # type: ignore[attr-defined]


async def test_ai_buttons_say_what_the_agent_can_do_and_accept_merges_closers(hub: HubProcess) -> None:
    import asyncio
    import subprocess
    import sys

    from playwright.async_api import expect

    from collab.client.session import Session

    async with chromium() as browser:
        ada = await new_page(browser, hub.url)
        link = await start_session(ada, "Ada")
        await expect(ada.locator("#ai-can")).to_contain_text("No AI in this session yet")
        await create_file(ada, "circle.py")
        await type_in_editor(ada, "print(")  # the editor closes the bracket: print(|)
        await text_has(ada, "print()")
        async with Session.connect(link, name="model") as bot:
            # What a model answers at print(|): the rest of the line, its closing bracket included.
            sid = bot.workspace.create_suggestion("circle.py", 6, model="m", requested_by="Ada", status="streaming", text="circumference(r")
            await expect(ada.locator(".cm-ghost")).to_have_attribute("data-status", "streaming")
            bot.workspace.update_suggestion(sid, append="))", status="ready")
            await expect(ada.locator(".cm-ghost")).to_have_attribute("data-status", "ready")
            # Screen readers hear that it is ready (the polite live region).
            await expect(ada.locator("#announcer")).to_contain_text("Suggestion ready from m in circle.py")
            await ada.keyboard.press("Tab")
            await expect(ada.locator(".cm-ghost")).to_have_count(0)
            await eventually(lambda: bot.workspace.read("circle.py") == "print(circumference(r))", 10)
            await text_has(ada, "print(circumference(r))")
            assert "r)))" not in str(await ada.evaluate(EDITOR_TEXT))

        # The builtin agent completes code but cannot answer questions: the page says so up front.
        agent = subprocess.Popen([sys.executable, "-m", "collab.cli", "agent", link, "--model", "builtin", "--inline", "off"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            await expect(ada.locator("#people-list")).to_contain_text("builtin-ngram", timeout=30_000)
            await expect(ada.locator("#ai-can")).to_contain_text("completes code only")
            for name in ("Explain", "Fix", "Ask…"):
                button = ada.get_by_role("button", name=name, exact=True)
                await expect(button).to_be_disabled()
                await expect(button).to_have_attribute("title", re.compile("cannot answer questions"))
            await expect(ada.get_by_role("button", name="Complete here")).to_be_enabled()
        finally:
            agent.terminate()
            await asyncio.to_thread(agent.wait, 15)
        assert ada.errors == []  # type: ignore[attr-defined]


async def _colors(page) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return dict(await page.evaluate(
        "() => { const c = (sel, prop) => getComputedStyle(document.querySelector(sel))[prop];"
        " return {body: c('body', 'backgroundColor'), panel: c('.panel', 'backgroundColor'), text: c('.cm-content', 'color'),"
        " editor: c('.cm-editor', 'backgroundColor'), caret: c('.cm-cursor', 'borderLeftColor')}; }"
    ))


async def test_dark_scheme_and_phone_layout(hub: HubProcess) -> None:
    from playwright.async_api import expect

    async with chromium() as browser:
        light = await new_page(browser, hub.url)
        link = await start_session(light, "Ada")
        await create_file(light, "app.py")
        await type_in_editor(light, "def f():\n    return 1")
        day = await _colors(light)
        context = await browser.new_context(base_url=hub.url, viewport={"width": 1360, "height": 820}, color_scheme="dark")
        dark = await page_in(context)
        await join(dark, link, "Night")
        await editor(dark).click()
        night = await _colors(dark)
        assert night["panel"] != day["panel"] and night["panel"] == "rgb(27, 30, 35)", night
        assert night["editor"] == "rgb(27, 30, 35)" and night["text"] == "rgb(230, 232, 235)", night
        assert night["caret"] != "rgb(0, 0, 0)", night  # CodeMirror's dark defaults: a light caret
        keyword = dark.locator(".cm-line span", has_text="def").first
        await expect(keyword).to_have_css("color", "rgb(215, 166, 255)")

        # A phone: the editor is near the top and tall, the panels below it.
        phone_context = await browser.new_context(base_url=hub.url, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
        phone = await page_in(phone_context)
        await join(phone, link, "Pocket")
        box = await phone.locator("#editor").bounding_box()
        assert box is not None and box["y"] < 320 and box["height"] > 400, box
        files = await phone.locator("#file-list").bounding_box()
        assert files is not None and files["y"] > box["y"], files
        width = await phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page scrolls sideways on a phone ({width}px)"
        assert light.errors == [] and dark.errors == [] and phone.errors == []  # type: ignore[attr-defined]


async def test_small_things_new_file_focus_people_marks_leave_forget_and_cut_links(hub: HubProcess) -> None:
    from playwright.async_api import expect

    from collab.client.session import Session

    async with chromium() as browser:
        ada = await new_page(browser, hub.url)
        link = await start_session(ada, "Ada")
        # After "New file" the caret is in the new file: typing goes there.
        await create_file(ada, "first.py")
        await ada.keyboard.type("typed_at_once = 1")
        await text_has(ada, "typed_at_once = 1")

        # The people list says who is read-only, a folder mirror, an AI.
        await ada.get_by_role("button", name="Copy read-only link").click()
        read_link = await ada.locator("#share-link").input_value()
        viewer = await new_page(browser, hub.url)
        await join(viewer, read_link, "Viewer")
        people = ada.locator("#people-list")
        await expect(people.locator("li[data-name=Viewer] .role")).to_have_text("read-only")
        async with Session.connect(link, name="laptop-folder") as mirror:
            mirror.set_field("kind", "mirror")  # what a folder mirror (collab join DIR) publishes
            await expect(people.locator("li[data-name=laptop-folder] .role")).to_have_text("folder mirror")
            mirror.set_field("agent", {"name": "laptop-folder", "model": "m"})
            await expect(people.locator("li[data-name=laptop-folder] .role")).to_have_text("AI")
        await expect(people.locator("li[data-name=Ada] .role")).to_have_count(0)

        # Leave session: back on the landing page, and the others see you go.
        await viewer.get_by_role("button", name="Leave session").click()
        await expect(viewer.get_by_role("button", name="Start a session")).to_be_visible()
        await expect(people.locator("li[data-name=Viewer]")).to_have_count(0, timeout=15_000)

        # Forget on this device: the copy and the name go, and a reload does not bring them back.
        await expect(ada.locator("#connection-status")).to_have_attribute("data-kept", "true")
        await ada.get_by_role("button", name="Forget on this device").click()
        await expect(ada.locator("#notice")).to_contain_text("no longer keeps a copy")
        await ada.reload()
        await expect(ada.get_by_label("Your name, as others will see it")).to_be_visible()
        await ada.get_by_label("Your name, as others will see it").fill("Ada again")
        await ada.get_by_role("button", name="Join").click()
        await expect(ada.locator("#connection-status")).to_have_text("Connected")
        await type_in_editor(ada, "\nafter_reload = 1")
        await ada.wait_for_timeout(1000)  # several of the local copy's save intervals
        assert await ada.evaluate(
            "() => new Promise((ok) => { const r = indexedDB.open('collab'); r.onsuccess = () => { const db = r.result;"
            " if (!db.objectStoreNames.contains('rooms')) return ok(0); const q = db.transaction('rooms').objectStore('rooms').count();"
            " q.onsuccess = () => ok(q.result); }; })"
        ) == 0

        # A link whose key lost its last characters says it is incomplete, in plain words.
        base, key = link.split("#", 1)
        for cut in (1, 2, 3):
            page = await new_page(browser, hub.url)
            await page.goto(f"{base}#{key[:-cut]}")
            alert = page.get_by_role("alert")
            await expect(alert).to_contain_text("This link is incomplete")
            text = await alert.inner_text()
            assert "base64url" not in text and "stray bits" not in text, text
        assert ada.errors == [] and viewer.errors == []  # type: ignore[attr-defined]


async def test_tabs_and_the_shortcut_list(hub: HubProcess) -> None:
    from playwright.async_api import expect

    async with chromium() as browser:
        ada = await new_page(browser, hub.url)
        await start_session(ada, "Ada")
        for path in ("one.py", "lib/two.py", "three.md"):
            await create_file(ada, path)
        tabs = ada.locator("#file-tabs")
        await expect(tabs.locator("button.tab")).to_have_text(["one.py", "two.py", "three.md"])
        await expect(tabs.locator("button.tab[aria-current=page]")).to_have_text("three.md")
        await tabs.locator("button.tab", has_text="one.py").click()
        await expect(ada.locator("#editor-heading")).to_have_text("one.py")
        # Closing the open file's tab opens its neighbour.
        await ada.get_by_role("button", name="Close one.py").click()
        await expect(ada.locator("#editor-heading")).to_have_text("lib/two.py")
        await expect(tabs.locator("button.tab")).to_have_text(["two.py", "three.md"])

        # "?" outside the editor lists the shortcuts; Esc closes it.
        await ada.get_by_role("button", name="New file").focus()
        await ada.keyboard.press("?")
        dialog = ada.get_by_role("dialog", name="Keyboard shortcuts")
        await expect(dialog).to_contain_text("Ctrl+P")
        await ada.keyboard.press("Escape")
        await expect(dialog).to_have_count(0)
        await ada.get_by_role("button", name="Keyboard shortcuts (?)").click()
        await expect(dialog).to_be_visible()
        await dialog.get_by_role("button", name="Close").click()
        await expect(dialog).to_have_count(0)
        assert ada.errors == []  # type: ignore[attr-defined]


async def test_search_and_replace_in_all_files_is_one_undoable_change(hub: HubProcess) -> None:
    from playwright.async_api import expect

    from collab.client.session import Session

    async with chromium() as browser:
        ada = await new_page(browser, hub.url)
        link = await start_session(ada, "Ada")
        async with Session.connect(link, name="Grace") as grace:
            grace.workspace.write("calc.py", "def total(xs):\n    return sum(xs)\n\nprint(total([1]))\n")
            grace.workspace.write("lib/report.py", "from calc import total\n")
            grace.workspace.write("notes.md", "nothing here\n")
            await expect(file_button(ada, "lib/report.py")).to_be_visible()
            await ada.keyboard.press("Control+Shift+f")
            await expect(ada.locator("#search-files")).to_be_focused()
            await ada.keyboard.type("total")
            await expect(ada.locator("#search-status")).to_have_text("3 matches in 2 files")
            await expect(ada.locator("#search-results .search-hit")).to_have_count(3)
            # A match opens its file at its line.
            await ada.locator('#search-results .search-hit[data-path="calc.py"][data-line="4"]').click()
            await expect(ada.locator("#editor-heading")).to_have_text("calc.py")
            await expect(ada.locator(".cm-activeLine")).to_have_text("print(total([1]))")
            # Replace all: every file at once, for everyone.
            await ada.locator("#replace-files").fill("grand_total")
            await ada.get_by_role("button", name="Replace all").click()
            await expect(ada.locator("#search-status")).to_have_text("Replaced 3 in 2 files.")
            await eventually(lambda: grace.workspace.read("lib/report.py") == "from calc import grand_total\n", 10)
            assert grace.workspace.read("calc.py") == "def grand_total(xs):\n    return sum(xs)\n\nprint(grand_total([1]))\n"
            await text_has(ada, "print(grand_total([1]))")
            # One Undo puts every file back.
            await ada.get_by_role("button", name="Undo replace").click()
            await eventually(lambda: grace.workspace.read("lib/report.py") == "from calc import total\n", 10)
            assert grace.workspace.read("calc.py") == "def total(xs):\n    return sum(xs)\n\nprint(total([1]))\n"
            assert grace.workspace.read("notes.md") == "nothing here\n"
        assert ada.errors == []  # type: ignore[attr-defined]


async def test_ai_code_can_be_compared_then_replace_the_selection_or_be_inserted(hub: HubProcess) -> None:
    from playwright.async_api import expect

    from collab.client.session import Session

    async with chromium() as browser:
        ada = await new_page(browser, hub.url)
        link = await start_session(ada, "Ada")
        async with Session.connect(link, name="Grace") as grace:
            grace.workspace.write("area.py", "def area(r):\n    return 3.14 * r * r\n")
            asked = grace.workspace.chat_entry(grace.workspace.post_chat("Grace", "@ai use math.pi"))
            assert asked is not None
            reply = grace.workspace.reply_to_chat(asked, claimed_by="ai#1", author="ai", model="m", status="streaming",
                                                  text="```python\ndef area(r):\n    return math.pi * r * r\n```\n")
            grace.workspace.finish_reply(reply, "done")
            answer = ada.locator("#chat-log li.msg.ai")
            await expect(answer.locator("pre.code").first).to_contain_text("math.pi")
            # Select the function in the editor, compare: one line out, one line in.
            await editor(ada).click()
            await ada.keyboard.press("Control+Home")
            await ada.keyboard.press("Shift+ArrowDown")
            await ada.keyboard.press("Shift+End")
            await answer.get_by_role("button", name="Compare").click()
            diff = answer.locator("pre.diff")
            await expect(diff.locator(".diff-line.del")).to_have_text(["-     return 3.14 * r * r\n"])
            await expect(diff.locator(".diff-line.add")).to_have_text(["+     return math.pi * r * r\n"])
            await expect(diff.locator(".diff-line.same")).to_have_count(1)
            await answer.get_by_role("button", name="Replace selection").click()
            await eventually(lambda: grace.workspace.read("area.py") == "def area(r):\n    return math.pi * r * r\n", 10)
            # Insert at cursor adds, taking nothing out.
            await ada.keyboard.press("Control+End")
            await answer.get_by_role("button", name="Insert at cursor").click()
            await eventually(lambda: (grace.workspace.read("area.py") or "").count("def area") == 2, 10)
        assert ada.errors == []  # type: ignore[attr-defined]
