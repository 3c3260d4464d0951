"""The shared document's schema: paths, minimal edits, chat, suggestions, presence."""

from __future__ import annotations

import random

import pycrdt
import pytest

from collab.client.ignore import IgnoreRules
from collab.client.merge import merge3
from collab.workspace import PathError, Workspace, WorkspaceError, presence, validate_path


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
