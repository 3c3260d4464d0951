"""The folder's record of bases on its own: journal replay, torn lines, the old format, delivery."""

from __future__ import annotations

import json
from pathlib import Path

from collab.client import bases
from collab.client.bases import BaseBook, Candidate, FolderState, Journal
from collab.client.reconcile import text_hash


def folder(tmp_path: Path) -> Path:
    (tmp_path / ".collab").mkdir()
    return tmp_path


def test_journal_lines_after_the_state_are_replayed_and_a_torn_last_line_is_ignored(tmp_path: Path) -> None:
    root = folder(tmp_path)
    bases.save(root, bases.dump(FolderState("room", {"a": [Candidate("h1")], "gone": [Candidate("g")]}, seq=2)))
    journal = Journal(root, seq=0)
    journal.append("a", "h0")  # n=1, 2: already in state.json
    journal.append("a", "h0")
    journal.append("a", "h2", need=7, client=42)  # n=3: a write about to happen
    journal.append("gone", None)  # n=4: forgotten
    journal.close()
    with (root / ".collab" / "journal").open("a") as f:
        f.write('{"n": 5, "p": "a", "h": "h')  # killed in the middle of a write
    state = bases.load(root)
    assert state.room == "room" and state.seq == 4
    assert state.bases == {"a": [Candidate("h1"), Candidate("h2", 7, 42)]}


def test_a_base_that_needs_an_edit_the_hub_never_got_does_not_hold() -> None:
    state = FolderState("room", {"a": [Candidate("old"), Candidate("new", 7, 42)], "b": [Candidate("only", 3, 42)]})
    assert bases.candidates(state, {42: 7}) == {"a": ["old", "new"], "b": ["only"]}
    assert bases.candidates(state, {42: 6}) == {"a": ["old"], "b": ["only"]}
    assert bases.candidates(state, {42: 2}) == {"a": ["old"]}
    assert bases.candidates(state, {}) == {"a": ["old"]}


def test_the_format_before_candidates_still_loads(tmp_path: Path) -> None:
    root = folder(tmp_path)
    (root / ".collab" / "state.json").write_text(json.dumps({"room": "r", "bases": {"a.py": "abc"}}))
    assert bases.load(root).bases == {"a.py": [Candidate("abc")]}


def test_the_book_journals_before_and_settles_delivered_bases(tmp_path: Path) -> None:
    root = folder(tmp_path)
    book = BaseBook(client=42)
    book.journal = Journal(root, seq=0)
    book.agree("a", "one", 0)
    book.expect("a", "two", 5)  # journaled; the disk write then fails or is killed: memory unchanged
    assert book["a"] == "one"
    book.settle_base("a", "two", 5)
    assert dict(book) == {"a": "two"}
    assert book.state("r").bases["a"] == [Candidate(text_hash("one")), Candidate(text_hash("two"), 5, 42)]
    assert bases.load(root).bases["a"] == [Candidate(text_hash("one")), Candidate(text_hash("two"), 5, 42)]
    book.delivered(5)
    assert book.state("r").bases["a"] == [Candidate(text_hash("two"))]
    assert book.texts() == {text_hash("two"): "two"}
    book.drop("a")
    assert "a" not in book and "a" not in bases.load(root).bases
