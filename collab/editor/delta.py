"""Text deltas in code points (retain / insert / delete), with compose and transform.

The bridge keeps an editor's buffer and the shared Y.Text in step with these (the operational
transform of Quill's Delta, text only): an editor edit made against an older revision is
transformed over the remote edits the editor had not seen yet, and those remote edits over it, so
both sides reach the same text and nothing typed is lost (an insert inside a range someone else
deleted survives). Pure functions, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Union

from collab.text_diff import edit_script

_FOREVER = 1 << 62


@dataclass(frozen=True, slots=True)
class Retain:
    n: int


@dataclass(frozen=True, slots=True)
class Insert:
    text: str


@dataclass(frozen=True, slots=True)
class Delete:
    n: int


Op = Union[Retain, Insert, Delete]
Delta = list[Op]


def size(op: Op) -> int:
    return len(op.text) if isinstance(op, Insert) else op.n


class _Builder:
    """Appends ops, merging neighbours; an insert goes before a delete at the same place."""

    def __init__(self) -> None:
        self.ops: Delta = []

    def retain(self, n: int) -> None:
        if n <= 0:
            return
        if self.ops and isinstance(self.ops[-1], Retain):
            self.ops[-1] = Retain(self.ops[-1].n + n)
        else:
            self.ops.append(Retain(n))

    def delete(self, n: int) -> None:
        if n <= 0:
            return
        if self.ops and isinstance(self.ops[-1], Delete):
            self.ops[-1] = Delete(self.ops[-1].n + n)
        else:
            self.ops.append(Delete(n))

    def insert(self, text: str) -> None:
        if not text:
            return
        if self.ops and isinstance(self.ops[-1], Delete):
            deleted = self.ops.pop()
            self.insert(text)
            self.ops.append(deleted)
        elif self.ops and isinstance(self.ops[-1], Insert):
            self.ops[-1] = Insert(self.ops[-1].text + text)
        else:
            self.ops.append(Insert(text))

    def add(self, op: Op) -> None:
        if isinstance(op, Insert):
            self.insert(op.text)
        elif isinstance(op, Delete):
            self.delete(op.n)
        else:
            self.retain(op.n)

    def done(self) -> Delta:
        while self.ops and isinstance(self.ops[-1], Retain):
            self.ops.pop()
        return self.ops


class _Reader:
    """Reads ops in pieces; past the end it reads an endless retain."""

    def __init__(self, ops: Delta) -> None:
        self.ops = ops
        self.index = 0
        self.offset = 0

    def more(self) -> bool:
        return self.index < len(self.ops)

    def peek(self) -> Op:
        return self.ops[self.index] if self.more() else Retain(_FOREVER)

    def peek_size(self) -> int:
        return size(self.peek()) - self.offset if self.more() else _FOREVER

    def take(self, n: int = _FOREVER) -> Op:
        if not self.more():
            return Retain(n)
        op = self.ops[self.index]
        left = size(op) - self.offset
        n = min(n, left)
        start = self.offset
        if n == left:
            self.index += 1
            self.offset = 0
        else:
            self.offset += n
        if isinstance(op, Insert):
            return Insert(op.text[start : start + n])
        return Delete(n) if isinstance(op, Delete) else Retain(n)


def normalize(ops: Delta) -> Delta:
    out = _Builder()
    for op in ops:
        out.add(op)
    return out.done()


def replace(start: int, end: int, text: str) -> Delta:
    """The delta that replaces code points [start, end) with ``text``."""
    return normalize([Retain(start), Delete(end - start), Insert(text)])


def apply(text: str, delta: Delta) -> str:
    """``text`` with ``delta`` applied; ValueError when the delta reaches past its end."""
    parts: list[str] = []
    pos = 0
    for op in delta:
        if isinstance(op, Retain):
            if pos + op.n > len(text):
                raise ValueError(f"the edit retains past the end of the text ({pos + op.n} > {len(text)})")
            parts.append(text[pos : pos + op.n])
            pos += op.n
        elif isinstance(op, Delete):
            if pos + op.n > len(text):
                raise ValueError(f"the edit deletes past the end of the text ({pos + op.n} > {len(text)})")
            pos += op.n
        else:
            parts.append(op.text)
    parts.append(text[pos:])
    return "".join(parts)


def compose(a: Delta, b: Delta) -> Delta:
    """One delta with the effect of ``a`` then ``b``."""
    ra, rb, out = _Reader(a), _Reader(b), _Builder()
    while ra.more() or rb.more():
        if isinstance(rb.peek(), Insert):
            out.add(rb.take())
        elif isinstance(ra.peek(), Delete):
            out.add(ra.take())
        else:
            n = min(ra.peek_size(), rb.peek_size())
            oa, ob = ra.take(n), rb.take(n)
            if isinstance(ob, Retain):
                out.add(oa)  # a retain or (part of) an insert of a, kept
            elif isinstance(oa, Retain):  # b deletes text that was there before a
                out.delete(n)
            # else b deletes what a inserted: nothing of either remains
    return out.done()


def transform(a: Delta, b: Delta, a_first: bool) -> Delta:
    """``b`` rewritten to apply after ``a`` (both made against the same text).

    ``a_first``: where both insert at the same place, ``a``'s text goes first. Then
    ``compose(a, transform(a, b, True)) == compose(b, transform(b, a, False))`` in effect.
    """
    ra, rb, out = _Reader(a), _Reader(b), _Builder()
    while ra.more() or rb.more():
        if isinstance(ra.peek(), Insert) and (a_first or not isinstance(rb.peek(), Insert)):
            out.retain(size(ra.take()))
        elif isinstance(rb.peek(), Insert):
            out.add(rb.take())
        else:
            n = min(ra.peek_size(), rb.peek_size())
            oa, ob = ra.take(n), rb.take(n)
            if isinstance(oa, Delete):
                continue  # a deleted it already: b's retain or delete of it is moot
            if isinstance(ob, Delete):
                out.delete(n)
            else:
                out.retain(n)
    return out.done()


def transform_index(delta: Delta, index: int, *, stay_before: bool = False) -> int:
    """Where code point ``index`` of the old text is once ``delta`` applied (a cursor, an anchor).

    Text inserted exactly at ``index`` goes before it unless ``stay_before``."""
    offset = 0
    for op in delta:
        if offset > index:
            break
        if isinstance(op, Delete):
            index -= min(op.n, index - offset)
        elif isinstance(op, Insert):
            if offset < index or not stay_before:
                index += len(op.text)
            offset += len(op.text)
        else:
            offset += op.n
    return index


def spans(delta: Delta) -> Iterator[tuple[int, int, str]]:
    """The delta as replacements (start, end, text) in the old text's code points, back to front:
    applied in this order, each one's range is right in the text the previous ones left."""
    found: list[tuple[int, int, str]] = []
    pos = 0
    for op in delta:
        if isinstance(op, Retain):
            pos += op.n
        elif isinstance(op, Delete):
            if found and found[-1][1] == pos:
                start, _, text = found[-1]
                found[-1] = (start, pos + op.n, text)
            else:
                found.append((pos, pos + op.n, ""))
            pos += op.n
        else:
            if found and found[-1][1] == pos:
                start, end, text = found[-1]
                found[-1] = (start, end, text + op.text)
            else:
                found.append((pos, pos, op.text))
    return reversed(found)


def from_utf8(old: str, ops: list[dict[str, object]]) -> Delta:
    """A Y.Text event's delta (pycrdt counts UTF-8 bytes) in code points of the old text.

    ValueError when it does not fit the old text (the caller then diffs instead)."""
    raw = old.encode("utf-8")
    pos = 0
    out = _Builder()
    for op in ops:
        if "insert" in op:
            inserted = op["insert"]
            if not isinstance(inserted, str):
                raise ValueError("an embedded object in a text")
            out.insert(inserted)
            continue
        count = op.get("retain", op.get("delete"))
        if not isinstance(count, int) or pos + count > len(raw):
            raise ValueError("the event reaches past the end of the text")
        chars = len(raw[pos : pos + count].decode("utf-8"))  # strict: a cut character raises
        pos += count
        if "delete" in op:
            out.delete(chars)
        else:
            out.retain(chars)
    return out.done()


def diff(old: str, new: str) -> Delta:
    """A small delta turning ``old`` into ``new`` (collab.text_diff's edit script)."""
    out = _Builder()
    pos = 0
    for start, end, text in edit_script(old, new):  # ascending, in old's code points
        out.retain(start - pos)
        out.delete(end - start)
        out.insert(text)
        pos = end
    return out.done()
