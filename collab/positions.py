"""Sticky positions in a pycrdt Y.Text that mean the same character as in Yjs, whatever the text.

On the wire a position is a Yjs relative position: the id (client, clock) of a character, where
clocks count UTF-16 code units, as Yjs in the browser (and y-codemirror.next) counts them.

pycrdt 0.14 (yrs with byte offsets) gets this wrong for non-ASCII text, in a mixed way:
``Text.insert``/``del``/``len`` and event deltas count UTF-8 bytes, and ``Text.sticky_index`` /
``StickyIndex.get_index`` count bytes across the text's items (its runs of characters inserted
together) but treat the offset *inside* an item as a clock offset (UTF-16 units). So an index is
right only when the part of its item before it is ASCII: the first anchors in an untouched file
with an accent near the top point at the wrong character, the end of the text panics.

The conversion here is exact without seeing the items: an item that *starts* at a character is
exact both ways, so on a throwaway copy of the document (never sent anywhere) the text is split
there first (insert and delete a character: the text is unchanged, the item is cut). Offsets whose
prefix is ASCII need no copy. pycrdt also panics (a BaseException) when asked for an
``Assoc.AFTER`` index at the very end of a text, so the end is written as Yjs writes it: the text
itself with assoc 0 (it stays at the end as text is appended), which pycrdt does resolve.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable, TypeVar

import pycrdt

T = TypeVar("T")

_Path = list[str | int]


def utf16_to_byte(text: str, units: int) -> int:
    """The UTF-8 byte offset of the position ``units`` UTF-16 code units into ``text``."""
    raw = text.encode("utf-16-le")[: max(0, units) * 2]
    return len(raw.decode("utf-16-le", errors="ignore").encode("utf-8"))


def byte_to_utf16(text: str, offset: int) -> int:
    prefix = text.encode("utf-8")[: max(0, offset)].decode("utf-8", errors="ignore")
    return len(prefix.encode("utf-16-le")) // 2


def byte_to_char(text: str, offset: int) -> int:
    return len(text.encode("utf-8")[: max(0, offset)].decode("utf-8", errors="ignore"))


def char_to_byte(text: str, index: int) -> int:
    return len(text[: max(0, index)].encode("utf-8"))


def _char_floor(raw: bytes, offset: int) -> int:
    """The start of the character that byte ``offset`` falls in (UTF-8 continuation bytes are 10xxxxxx)."""
    offset = max(0, min(offset, len(raw)))
    while 0 < offset < len(raw) and raw[offset] & 0xC0 == 0x80:
        offset -= 1
    return offset


def _panic_safe(call: Callable[[], T]) -> T | None:
    """pyo3's PanicException is a BaseException: turn it into None, let real interrupts through."""
    try:
        return call()
    except BaseException as exc:
        if isinstance(exc, (KeyboardInterrupt, SystemExit, asyncio.CancelledError, GeneratorExit)):
            raise
        return None


# -- a throwaway copy of the document, to cut items ----------------------------------------------


def _path_to(ytext: pycrdt.Text) -> tuple[str, type, _Path] | None:
    """Where ``ytext`` sits in its document: root name, root type, then map keys / array indices."""
    target = ytext.sticky_index(0, pycrdt.Assoc.BEFORE).to_json()  # the text's own identity
    if "tname" in target:
        return str(target["tname"]), pycrdt.Text, []

    def search(node: Any, path: _Path, depth: int) -> _Path | None:
        if isinstance(node, pycrdt.Text):
            return path if node.sticky_index(0, pycrdt.Assoc.BEFORE).to_json() == target else None
        if depth > 8:
            return None
        if isinstance(node, pycrdt.Map):
            children: list[tuple[str | int, Any]] = list(node.items())
        elif isinstance(node, pycrdt.Array):
            children = list(enumerate(node))
        else:
            return None
        for key, child in children:
            if isinstance(child, (pycrdt.Text, pycrdt.Map, pycrdt.Array)):
                found = search(child, [*path, key], depth + 1)
                if found is not None:
                    return found
        return None

    for name, root in ytext.doc.items():
        if isinstance(root, (pycrdt.Map, pycrdt.Array)):
            found = search(root, [], 0)
            if found is not None:
                return name, type(root), found
    return None


class _Copy:
    """The text in a private copy of its document, where items may be cut without anyone seeing."""

    def __init__(self, ytext: pycrdt.Text) -> None:
        where = _path_to(ytext)
        if where is None:
            raise LookupError("the text is not reachable from its document's roots")
        name, root_type, path = where
        self.doc: pycrdt.Doc[Any] = pycrdt.Doc()
        self.doc.apply_update(ytext.doc.get_update())
        node: Any = self.doc.get(name, type=root_type)
        for step in path:
            node = node[step]
        self.text: pycrdt.Text = node

    def cut(self, offset: int) -> None:
        """Start an item at byte ``offset`` (a character boundary); the text stays the same."""
        if 0 < offset < len(self.text):
            with self.doc.transaction():
                self.text.insert(offset, "\x00")
                del self.text[offset : offset + 1]


# -- making and resolving sticky indices ---------------------------------------------------------


def _id_at(ytext: pycrdt.Text, raw: bytes, offset: int) -> pycrdt.StickyIndex | None:
    """``Assoc.AFTER`` at the character starting at byte ``offset`` (< len(raw)): that character's id."""
    if raw[:offset].isascii():  # bytes and UTF-16 units agree before it, inside its item too
        return _panic_safe(lambda: ytext.sticky_index(offset, pycrdt.Assoc.AFTER))
    try:
        copy = _Copy(ytext)
    except LookupError:
        return None
    copy.cut(offset)
    sticky = _panic_safe(lambda: copy.text.sticky_index(offset, pycrdt.Assoc.AFTER))
    return None if sticky is None else pycrdt.StickyIndex.from_json(sticky.to_json(), ytext)


def sticky_at(ytext: pycrdt.Text, byte_offset: int, assoc: pycrdt.Assoc = pycrdt.Assoc.AFTER) -> pycrdt.StickyIndex:
    """A sticky index at a byte offset (clamped to the text, rounded down to a character start).

    ``Assoc.AFTER`` sticks to the character after the position, ``Assoc.BEFORE`` to the one before.
    """
    raw = str(ytext).encode("utf-8")
    offset = _char_floor(raw, byte_offset)
    if assoc == pycrdt.Assoc.AFTER and offset == len(raw) or assoc == pycrdt.Assoc.BEFORE and offset == 0:
        # The end (or start) of the text, written as Yjs writes it: the text itself plus assoc.
        # pycrdt cannot make an AFTER index at the end, but resolves this one.
        scope = ytext.sticky_index(0, pycrdt.Assoc.BEFORE).to_json()
        return pycrdt.StickyIndex.from_json({**scope, "assoc": 0 if assoc == pycrdt.Assoc.AFTER else -1}, ytext)
    if assoc == pycrdt.Assoc.AFTER:
        sticky = _id_at(ytext, raw, offset)
    else:
        sticky = _id_at(ytext, raw, _char_floor(raw, offset - 1))
        if sticky is not None:
            sticky = pycrdt.StickyIndex.from_json({**sticky.to_json(), "assoc": -1}, ytext)
    if sticky is None:
        raise ValueError(f"pycrdt could not make a sticky index at byte {offset} of this text")
    return sticky


def sticky_at_char(
    ytext: pycrdt.Text, index: int, assoc: pycrdt.Assoc = pycrdt.Assoc.AFTER
) -> pycrdt.StickyIndex:
    """A sticky index at code-point ``index`` of the text (clamped), for APIs that count characters."""
    return sticky_at(ytext, char_to_byte(str(ytext), index), assoc)


def _raw_offset(ytext: pycrdt.Text, json: dict[str, Any]) -> int | None:
    offset = _panic_safe(lambda: pycrdt.StickyIndex.from_json(json, ytext).get_index())
    return offset if isinstance(offset, int) else None


def _char_start(ytext: pycrdt.Text, raw: bytes, item: dict[str, Any]) -> int | None:
    """The byte offset of the character with id ``item`` (where it was, if deleted)."""
    json = {"item": item, "assoc": 0}
    mixed = _raw_offset(ytext, json)  # item start in bytes + offset inside the item in UTF-16 units
    if mixed is None or raw[:mixed].isascii():
        return mixed
    # The item starts at or before `cut` and the character at or after it; once an item starts at
    # `cut`, what is left of `mixed` counts UTF-16 units of ASCII-or-not text from `cut` on.
    cut = _char_floor(raw, mixed)
    try:
        copy = _Copy(ytext)
    except LookupError:
        return None
    copy.cut(cut)
    after_cut = _raw_offset(copy.text, json)
    if after_cut is None:
        return None
    tail = raw[cut:].decode("utf-8", errors="ignore")
    return cut + utf16_to_byte(tail, after_cut - cut)


def resolve(ytext: pycrdt.Text, sticky: pycrdt.StickyIndex) -> int | None:
    """The sticky index's current byte offset, or None if it does not resolve in this text."""
    json = _panic_safe(sticky.to_json)
    if not isinstance(json, dict):
        return None
    raw = str(ytext).encode("utf-8")
    item = json.get("item")
    if not isinstance(item, dict):
        offset = _panic_safe(sticky.get_index)  # start or end of the text: exact
        return offset if isinstance(offset, int) and 0 <= offset <= len(raw) else None
    start = _char_start(ytext, raw, item)
    if start is None or not 0 <= start <= len(raw):
        return None
    if json.get("assoc", 0) >= 0:
        return start
    # BEFORE: just after the character, unless it was deleted (then Yjs, too, takes where it was).
    deleted = _raw_offset(ytext, {"item": item, "assoc": -1}) == _raw_offset(ytext, {"item": item, "assoc": 0})
    if deleted:
        return start
    size = len(raw[start:].decode("utf-8", errors="ignore")[:1].encode("utf-8"))
    return start + size


def resolve_char(ytext: pycrdt.Text, sticky: pycrdt.StickyIndex) -> int | None:
    """The sticky index's current code-point index, or None if it does not resolve in this text."""
    offset = resolve(ytext, sticky)
    return None if offset is None else byte_to_char(str(ytext), offset)


def decode(ytext: pycrdt.Text, value: Any) -> pycrdt.StickyIndex | None:
    """A sticky index from what clients store: encoded bytes, a list of byte values, or Yjs JSON."""

    def parse() -> pycrdt.StickyIndex | None:
        if isinstance(value, (bytes, bytearray)):
            return pycrdt.StickyIndex.decode(bytes(value), ytext)
        if isinstance(value, list) and all(isinstance(b, int) and 0 <= b < 256 for b in value):
            return pycrdt.StickyIndex.decode(bytes(value), ytext)
        if isinstance(value, dict):
            return pycrdt.StickyIndex.from_json(value, ytext)
        return None

    result = _panic_safe(parse)
    return result if isinstance(result, pycrdt.StickyIndex) else None
