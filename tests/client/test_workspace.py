"""The shared document's schema: paths, minimal edits, chat, suggestions, presence."""

from __future__ import annotations

import base64
import json
import random
import subprocess
from typing import Any

import pycrdt
import pytest

from collab import positions
from collab.client.ignore import IgnoreRules
from collab.client.merge import merge3
from collab.workspace import PathError, Workspace, WorkspaceError, cursor_json, presence, validate_path
from tests.support.node_client import INTEROP, node_available


@pytest.mark.parametrize(
    "path, why",
    [
        ("", "empty"),
        ("/etc/passwd", "absolute"),
        ("C:/x", "absolute"),
        ("a/../b", "'..'"),
        ("a//b", "empty"),
        ("a\x00b", "NUL"),
        ("a\\b", "backslash"),
        ("x" * 300, "over 255"),
        ("a/" * 600 + "b", "bytes long"),
    ],
)
def test_bad_paths_are_refused_with_the_reason(path: str, why: str) -> None:
    with pytest.raises(PathError, match=why):
        validate_path(path)


def test_good_paths_pass() -> None:
    for path in ("a.py", "src/pkg/mod.py", ".gitignore", "dir with space/é.txt"):
        assert validate_path(path) == path


def _ops(ws: Workspace, action) -> int:  # type: ignore[no-untyped-def]
    """How many Yjs delta operations one local change produced (what travels)."""
    deltas: list[object] = []
    sub = ws.files.observe_deep(lambda events: deltas.extend(e.delta for e in events if isinstance(e, pycrdt.TextEvent)))
    action()
    ws.files.unobserve(sub)
    return sum(1 for delta in deltas for op in delta if "retain" not in op)


def test_a_write_is_a_small_diff_never_a_replace_all() -> None:
    doc = pycrdt.Doc()
    ws = Workspace(doc)
    body = "".join(f"line {i} 😀 é\n" for i in range(2000))
    ws.write("big.py", body)
    edited = body.replace("line 1000 ", "line one thousand ", 1)
    assert _ops(ws, lambda: ws.write("big.py", edited)) <= 2
    assert ws.read("big.py") == edited


def test_random_edits_round_trip_with_non_ascii_text() -> None:
    rng = random.Random(7)
    ws = Workspace(pycrdt.Doc())
    alphabet = "ab😀é\n \t{}"
    ws.write("f", "")
    for _ in range(300):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        ws.write("f", text)
        assert ws.read("f") == text


def test_edits_of_two_replicas_merge() -> None:
    a, b = pycrdt.Doc(), pycrdt.Doc()
    wa, wb = Workspace(a), Workspace(b)
    wa.write("m.py", "one\ntwo\nthree\n")
    b.apply_update(a.get_update())
    wa.write("m.py", "ONE\ntwo\nthree\n")
    wb.write("m.py", "one\ntwo\nTHREE\n")
    a.apply_update(b.get_update(a.get_state()))
    b.apply_update(a.get_update(b.get_state()))
    assert wa.read("m.py") == wb.read("m.py") == "ONE\ntwo\nTHREE\n"


def test_chat_and_streamed_reply() -> None:
    ws = Workspace(pycrdt.Doc())
    q = ws.post_chat("ada", "@ai explain")
    r = ws.post_chat("ai", "It ", kind="ai", reply_to=q)
    ws.append_chat(r, "works.")
    messages = ws.messages()
    assert [(m.author, m.kind, m.text, m.reply_to) for m in messages] == [
        ("ada", "human", "@ai explain", None),
        ("ai", "ai", "It works.", q),
    ]
    with pytest.raises(WorkspaceError, match="chat kind"):
        ws.post_chat("x", "y", kind="robot")  # type: ignore[arg-type]


def test_suggestion_anchor_survives_edits_before_it() -> None:
    ws = Workspace(pycrdt.Doc())
    ws.write("a.py", "def f():\n    pass\n")
    sid = ws.create_suggestion("a.py", 9, model="local", requested_by="ada")
    ws.update_suggestion(sid, status="streaming", append="    return 1\n")
    ws.write("a.py", "# header é😀\ndef f():\n    pass\n")
    assert ws.anchor_index(sid) == 9 + len("# header é😀\n")
    ws.update_suggestion(sid, status="accepted", decided_by="bob")
    s = ws.suggestion(sid)
    assert (s.status, s.text, s.decided_by, s.model, s.requested_by) == ("accepted", "    return 1\n", "bob", "local", "ada")
    with pytest.raises(WorkspaceError, match="status"):
        ws.update_suggestion(sid, status="done")  # type: ignore[arg-type]


# Text where code points, UTF-16 units and UTF-8 bytes all differ: 2-byte é, 3-byte CJK, and an
# emoji that is 4 bytes and a UTF-16 surrogate pair.
NON_ASCII = [
    "é = 1\nx = \n",
    "s = '😀😀'\nt = 1\n",
    "名前 = '山田'  # 名\nprint(名前)\n",
    "a😀é名\n😀",
]


def utf16_index(text: str, index: int) -> int:
    return len(text[:index].encode("utf-16-le")) // 2


def edited_by_two(content: str, seed: int) -> Workspace:
    """``content`` after random non-ASCII inserts and deletes by two peers: a text of many items,
    where pycrdt's own sticky offsets are off inside an item."""
    rng = random.Random(seed)
    ws, other = Workspace(pycrdt.Doc()), Workspace(pycrdt.Doc())
    ws.write("a.py", content)
    other.doc.apply_update(ws.doc.get_update())
    for step in range(12):
        peer = (ws, other)[step % 2]
        text = peer.read("a.py")
        if text and rng.random() < 0.3:
            start = rng.randrange(len(text))
            peer.write("a.py", text[:start] + text[start + 1 :])
        else:
            at = rng.randrange(len(text) + 1)
            peer.write("a.py", text[:at] + rng.choice(["é", "名前", "😀", "x", "ab😀c"]) + text[at:])
        ws.doc.apply_update(other.doc.get_update(ws.doc.get_state()))
        other.doc.apply_update(ws.doc.get_update(other.doc.get_state()))
    assert ws.read("a.py") == other.read("a.py")
    return ws


@pytest.mark.parametrize("content", NON_ASCII)
def test_suggestion_anchors_hold_on_non_ascii_text(content: str) -> None:
    ws = Workspace(pycrdt.Doc())
    ws.write("a.py", content)
    sids = {index: ws.create_suggestion("a.py", index, model="m", requested_by="ada") for index in range(len(content) + 1)}
    assert {index: ws.anchor_index(sid) for index, sid in sids.items()} == {i: i for i in sids}
    header = "# 😀 é 名\n"
    ws.text("a.py").insert(0, header)
    assert {index: ws.anchor_index(sid) for index, sid in sids.items()} == {i: i + len(header) for i in sids}


def test_the_reported_anchor_lands_where_it_was_put() -> None:
    ws = Workspace(pycrdt.Doc())
    ws.write("a.py", "é = 1\nx = \n")
    sid = ws.create_suggestion("a.py", 10, model="m", requested_by="ada")
    assert ws.anchor_index(sid) == 10
    end = ws.create_suggestion("a.py", 11, model="m", requested_by="ada")  # the very end: pycrdt used to panic
    assert ws.anchor_index(end) == 11
    ws.write("a.py", "é = 1\nx = \n# more\n")
    assert (ws.anchor_index(sid), ws.anchor_index(end)) == (10, 18)  # the end stays the end, as in Yjs


def test_an_anchor_that_cannot_resolve_is_a_clear_error() -> None:
    ws = Workspace(pycrdt.Doc())
    ws.write("a.py", "x")
    sid = ws.create_suggestion("a.py", 0, model="m", requested_by="ada")
    ws.suggestions[sid]["anchor"] = b"\x00garbage"
    with pytest.raises(WorkspaceError, match="does not resolve"):
        ws.anchor_index(sid)
    with pytest.raises(WorkspaceError, match="outside"):
        ws.create_suggestion("a.py", 2, model="m", requested_by="ada")


@pytest.mark.parametrize("seed", range(6))
def test_anchors_hold_in_text_edited_by_several_peers(seed: int) -> None:
    ws = edited_by_two(NON_ASCII[seed % len(NON_ASCII)], seed)
    content = ws.read("a.py")
    sids = [ws.create_suggestion("a.py", index, model="m", requested_by="ada") for index in range(len(content) + 1)]
    assert [ws.anchor_index(sid) for sid in sids] == list(range(len(content) + 1))
    ytext = ws.text("a.py")
    cursors = [cursor_json(ytext, index) for index in range(len(content) + 1)]
    assert [positions.resolve_char(ytext, pycrdt.StickyIndex.from_json(c, ytext)) for c in cursors] == list(
        range(len(content) + 1)
    )


@pytest.mark.parametrize("content", NON_ASCII + [""])
def test_cursors_resolve_to_their_character_on_another_peer(content: str) -> None:
    ws = Workspace(pycrdt.Doc())
    ws.write("a.py", content)
    cursors = [cursor_json(ws.text("a.py"), index) for index in range(len(content) + 1)]
    # A second peer (another Python client) reads the cursors after an edit before them.
    peer = Workspace(pycrdt.Doc())
    peer.doc.apply_update(ws.doc.get_update())
    peer.text("a.py").insert(0, "名😀\n")
    ytext = peer.text("a.py")
    resolved = [positions.resolve_char(ytext, pycrdt.StickyIndex.from_json(c, ytext)) for c in cursors]
    assert resolved == [i + 3 for i in range(len(content) + 1)]
    assert cursor_json(ws.text("a.py"), len(content) + 5) == cursors[-1]  # clamped to the end


_YJS_POSITIONS = """
import * as Y from 'yjs'
let input = ''
for await (const chunk of process.stdin) input += chunk
const req = JSON.parse(input)
const doc = new Y.Doc()
Y.applyUpdate(doc, Buffer.from(req.update, 'base64'))
const text = doc.getMap('files').get('a.py')
const at = rpos => Y.createAbsolutePositionFromRelativePosition(rpos, doc).index
console.log(JSON.stringify({
  cursors: req.cursors.map(c => at(Y.createRelativePositionFromJSON(c))),
  anchors: req.anchors.map(a => at(Y.decodeRelativePosition(Buffer.from(a, 'base64')))),
  made: req.made.map(i => Y.relativePositionToJSON(Y.createRelativePositionFromTypeIndex(text, i, 0))),
}))
"""


@pytest.mark.skipif(node_available() is not None, reason=str(node_available()))
@pytest.mark.parametrize("seed", range(-len(NON_ASCII), 4))
def test_yjs_in_javascript_and_python_agree_on_positions(seed: int) -> None:
    """Yjs counts UTF-16 units: Python's cursors and anchors land on the same character in JS, and
    JS cursors (y-codemirror.next's, end of text included) on the same character in Python, in a
    freshly written file and in files edited by several peers."""
    if seed < 0:
        ws = Workspace(pycrdt.Doc())
        ws.write("a.py", NON_ASCII[seed])
    else:
        ws = edited_by_two(NON_ASCII[seed], seed)
    content = ws.read("a.py")
    ytext = ws.text("a.py")
    indices = range(len(content) + 1)
    sids = [ws.create_suggestion("a.py", i, model="m", requested_by="ada") for i in indices]
    request = {
        "update": base64.b64encode(ws.doc.get_update()).decode(),
        "cursors": [cursor_json(ytext, i) for i in indices],
        "anchors": [base64.b64encode(ws.suggestion(sid).anchor).decode() for sid in sids],
        "made": [utf16_index(content, i) for i in indices],
    }
    done = subprocess.run(
        ["node", "--input-type=module", "-e", _YJS_POSITIONS],
        input=json.dumps(request), capture_output=True, text=True, cwd=INTEROP, timeout=30, check=True,
    )
    answer = json.loads(done.stdout)
    expected_js = [utf16_index(content, i) for i in indices]
    assert answer["cursors"] == expected_js
    assert answer["anchors"] == expected_js
    from_js = [positions.resolve_char(ytext, pycrdt.StickyIndex.from_json(j, ytext)) for j in answer["made"]]
    assert from_js == list(indices)


def test_presence_uses_y_codemirror_field_names() -> None:
    state = presence("ada", "#30bced", file="a.py")
    assert state == {"user": {"name": "ada", "color": "#30bced", "colorLight": "#30bced33"}, "file": "a.py", "cursor": None}


def test_three_way_merge_keeps_both_sides() -> None:
    assert merge3("a\nb\nc\n", "a\nB\nc\n", "a\nb\nc\nd\n") == "a\nB\nc\nd\n"
    assert merge3("hello world", "hello brave world", "HELLO world") == "HELLO brave world"


def test_ignore_rules(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / ".gitignore").write_text("*.log\nout/\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / ".gitignore").write_text("secret.txt\n")
    rules = IgnoreRules(tmp_path)
    rules.load_gitignore("")
    rules.load_gitignore("sub")
    for path in ("x.log", "out/a.py", "node_modules/p/i.js", ".git/config", "a/__pycache__/m.pyc", "a.py~",
                 ".a.py.swp", "sub/secret.txt", ".collab/conflicts/a.py"):
        assert rules.ignored(path), path
    for path in ("a.py", "src/out.py", "secret.txt", ".gitignore"):
        assert not rules.ignored(path), path


def test_a_closed_workspace_stops_observing_the_document_and_still_reads_it_right() -> None:
    doc: pycrdt.Doc[Any] = pycrdt.Doc()
    with Workspace(doc) as ws:
        ws.migrate()
        ws.write("a.py", "x = 1\n")
        seen: list[object] = []
        ws.files.observe_deep(seen.append)
    Workspace(doc).rename("a.py", "b.py")  # by another workspace on the same document
    assert seen == [] and ws.table._subs == []
    assert ws.paths() == ["b.py"] and ws.read("b.py") == "x = 1\n"
