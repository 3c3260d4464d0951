"""Unit tests of the bridge's position conversion, deltas and revision rebasing (no processes)."""

from __future__ import annotations

import random
from collections import deque
from typing import Any

import pytest

from collab.editor import delta as d
from collab.editor.lines import Lines, PositionError
from collab.editor.sync import EditRefused, FileSync, delta_of_changes

ALPHABET = "ab \n😀中e\u0301"


def random_text(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(n))


def random_delta(rng: random.Random, text: str) -> d.Delta:
    start = rng.randint(0, len(text))
    end = rng.randint(start, min(len(text), start + 4))
    return d.replace(start, end, random_text(rng, rng.randint(0, 3)))


def test_positions_count_utf16_units() -> None:
    text = "a😀b\n中e\u0301x\n"
    lines = Lines(text)
    assert lines.position(text.index("b")) == {"line": 0, "character": 3}  # the emoji is 2 units
    assert lines.offset(0, 3) == text.index("b")
    assert lines.position(text.index("x")) == {"line": 1, "character": 3}  # CJK 1, e 1, U+0301 1
    assert lines.offset(1, 3) == text.index("x")
    assert lines.offset(1, 99) == text.index("x") + 1  # past the line's end: the end, as LSP says
    assert lines.offset(2, 0) == len(text)
    with pytest.raises(PositionError, match="surrogate"):
        lines.offset(0, 2)
    with pytest.raises(PositionError, match="line 3"):
        lines.offset(3, 0)


def test_positions_round_trip_every_offset() -> None:
    rng = random.Random(1)
    for _ in range(50):
        text = random_text(rng, 30)
        lines = Lines(text)
        for offset in range(len(text) + 1):
            p = lines.position(offset)
            assert lines.offset(p["line"], p["character"]) == offset


def test_transform_converges_on_random_edits() -> None:
    rng = random.Random(2)
    for _ in range(2000):
        base = random_text(rng, rng.randint(0, 12))
        a, b = random_delta(rng, base), random_delta(rng, base)
        if rng.random() < 0.5:
            a = d.compose(a, random_delta(rng, d.apply(base, a)))
        left = d.apply(d.apply(base, a), d.transform(a, b, True))
        right = d.apply(d.apply(base, b), d.transform(b, a, False))
        assert left == right, (base, a, b)


def test_compose_is_applying_in_turn() -> None:
    rng = random.Random(3)
    for _ in range(2000):
        base = random_text(rng, rng.randint(0, 12))
        a = random_delta(rng, base)
        b = random_delta(rng, d.apply(base, a))
        assert d.apply(base, d.compose(a, b)) == d.apply(d.apply(base, a), b)


def test_an_insert_inside_a_concurrent_delete_survives() -> None:
    base = "hello world"
    cut = d.replace(2, 9, "")  # deletes "llo wor"
    typed = d.replace(5, 5, "XY")
    assert d.apply(d.apply(base, cut), d.transform(cut, typed, True)) == "heXYld"


def test_utf8_event_deltas_become_code_points() -> None:
    old = "é😀x"
    assert d.from_utf8(old, [{"retain": 6}, {"insert": "中"}, {"delete": 1}]) == [d.Retain(2), d.Insert("中"), d.Delete(1)]
    with pytest.raises(ValueError):
        d.from_utf8(old, [{"retain": 3}])  # inside the emoji


def test_stale_edit_is_rebased_over_what_the_editor_had_not_seen() -> None:
    sync = FileSync("line one\nline two\n")
    remote = sync.remote(d.replace(0, 0, "# 中文 😀\n"))  # a teammate adds a line on top
    assert remote is not None and remote.revision == 1 and remote.editor_revision == 0
    # The editor, still at revision 0, types at the end of "line two" (line 1, character 8).
    change = [{"range": {"start": {"line": 1, "character": 8}, "end": {"line": 1, "character": 8}}, "text": "!"}]
    for_doc, again = sync.local(0, change)
    assert d.apply("# 中文 😀\nline one\nline two\n", for_doc) == "# 中文 😀\nline one\nline two!\n"
    assert again is not None and again.editor_revision == 1 and again.revision == 1
    assert again.changes == [{"range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}},
                              "text": "# 中文 😀\n"}]


def test_refusals_apply_nothing() -> None:
    sync = FileSync("abc")
    with pytest.raises(EditRefused, match="revision 5"):
        sync.local(5, [])
    with pytest.raises(EditRefused, match="line 4"):
        sync.local(0, [{"range": {"start": {"line": 4, "character": 0}, "end": {"line": 4, "character": 0}}, "text": "x"}])
    assert sync.editor == 0 and sync.text == "abc"


def apply_changes(text: str, changes: list[dict[str, Any]]) -> str:
    return delta_of_changes(text, changes)[1]


def test_random_concurrent_editor_and_remote_edits_converge() -> None:
    """An editor that follows the protocol's rules, messages delayed at random both ways."""
    rng = random.Random(4)
    for _ in range(60):
        shared = random_text(rng, 10)
        sync = FileSync(shared)
        buffer, sent_count, applied = shared, 0, 0
        to_bridge: deque[tuple[int, list[dict[str, Any]]]] = deque()
        to_editor: deque[Any] = deque()
        for _step in range(80):
            roll = rng.random()
            if roll < 0.25:  # the editor types
                lines = Lines(buffer)
                change = random_delta(rng, buffer)
                (start, end, text), = list(d.spans(change)) or [(0, 0, "")]
                changes = [{"range": lines.range_of(start, end), "text": text}]
                buffer = apply_changes(buffer, changes)
                sent_count += 1
                to_bridge.append((applied, changes))
            elif roll < 0.45:  # a teammate types into the shared text
                change = random_delta(rng, shared)
                shared = d.apply(shared, change)
                out = sync.remote(change)
                if out:
                    to_editor.append(out)
            elif roll < 0.75 and to_bridge:
                revision, changes = to_bridge.popleft()
                for_doc, again = sync.local(revision, changes)
                shared = d.apply(shared, for_doc)
                if again:
                    to_editor.append(again)
            elif to_editor:
                out = to_editor.popleft()
                if out.editor_revision == sent_count:
                    assert out.revision == applied + 1
                    buffer = apply_changes(buffer, out.changes)
                    applied = out.revision
        while to_bridge or to_editor:
            if to_bridge:
                revision, changes = to_bridge.popleft()
                for_doc, again = sync.local(revision, changes)
                shared = d.apply(shared, for_doc)
                if again:
                    to_editor.append(again)
            else:
                out = to_editor.popleft()
                if out.editor_revision == sent_count:
                    buffer = apply_changes(buffer, out.changes)
                    applied = out.revision
        assert buffer == shared == sync.text
