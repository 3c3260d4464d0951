"""`collab editor` as a process on a real hub: the protocol's refusals and its rebasing."""

from __future__ import annotations

from typing import Any

from collab.client.session import Session
from collab.crypto.links import read_link, write_link
from collab.editor.lines import Lines
from tests.editors.bridge_client import bridge
from tests.e2ee.support import new_room
from tests.support.hub_process import HubProcess
from tests.support.waiting import eventually


def change(line: int, character: int, text: str, end: tuple[int, int] | None = None) -> dict[str, Any]:
    end_line, end_char = end if end is not None else (line, character)
    return {"range": {"start": {"line": line, "character": character},
                      "end": {"line": end_line, "character": end_char}}, "text": text}


async def test_malformed_json_rpc_gets_errors_and_the_bridge_keeps_working() -> None:
    async with bridge() as b:
        b.send_raw(b"Content-Length: 9\r\n\r\n{not json")
        b.send_raw(b"Content-Length: nine\r\n\r\n")
        b.send_raw(b"Content-Length: 2\r\n\r\n[]")
        b.send_raw(b'Content-Length: 13\r\n\r\n{"method": 1}')
        await eventually(lambda: len(b.errors) == 4, 15)
        assert [e["error"]["code"] for e in b.errors] == [-32700, -32700, -32600, -32600]
        unknown = await b.call("teleport")
        assert unknown["error"]["code"] == -32601
        early = await b.call("open", path="a.py")
        assert early["error"]["code"] == -32000 and "join first" in early["error"]["message"]
        assert (await b.result("initialize"))["positionEncoding"] == "utf-16"


async def test_stale_edit_is_rebased_over_a_teammates_edit_in_an_encrypted_room(hub: HubProcess) -> None:
    keys = new_room(hub)
    link = write_link(hub.url, keys)
    async with Session.connect(link, name="ann") as ann, bridge() as b:
        ann.workspace.write("notes.md", "one\ntwo\n")
        await ann.wait_idle()
        joined = await b.result("join", link=link, name="ed")
        assert joined["encrypted"] and not joined["read_only"]
        await eventually(lambda: "notes.md" in joined["paths"] or b.of("files", lambda p: "notes.md" in p["paths"]), 15)
        opened = await b.result("open", path="notes.md")
        assert opened["text"] == "one\ntwo\n" and opened["revision"] == 0
        ann.workspace.write("notes.md", "😀 中文 e\u0301\none\ntwo\n")
        await eventually(lambda: b.of("edit"), 15, what="the teammate's edit reaches the editor")
        # The editor had not applied that edit (still revision 0) when it typed after "two".
        response = await b.result("edit", path="notes.md", revision=0, changes=[change(1, 3, "!")])
        assert response["editor_revision"] == 1
        want = "😀 中文 e\u0301\none\ntwo!\n"
        await eventually(lambda: ann.workspace.read("notes.md") == want, 15)
        # The dropped edit comes again for the editor's new revision, and lands its buffer on the same text.
        again = b.of("edit", lambda p: p["editor_revision"] == 1)[-1]
        buffer = "one\ntwo!\n"
        for c in again["changes"]:
            lines = Lines(buffer)
            start = lines.parse_position(c["range"]["start"])
            end = lines.parse_position(c["range"]["end"])
            buffer = buffer[:start] + c["text"] + buffer[end:]
        assert buffer == want
        stale = await b.call("edit", path="notes.md", revision=7, changes=[change(0, 0, "x")])
        assert "revision 7" in stale["error"]["message"]
        assert ann.workspace.read("notes.md") == want


async def test_read_only_link_cannot_modify(hub: HubProcess) -> None:
    keys = new_room(hub)
    async with Session.connect(write_link(hub.url, keys), name="ann") as ann, bridge() as b:
        ann.workspace.write("a.txt", "hello")
        await ann.wait_idle()
        joined = await b.result("join", link=read_link(hub.url, keys))
        assert joined["read_only"]
        await eventually(lambda: any(p["read_only"] for p in b.of("status")), 15)
        await b.result("open", path="a.txt")
        refused = await b.call("edit", path="a.txt", revision=0, changes=[change(0, 0, "x")])
        assert "read-only" in refused["error"]["message"]
        assert ann.workspace.read("a.txt") == "hello"
