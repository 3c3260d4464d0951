"""Positions in a pycrdt Y.Text, in the units each API wants.

pycrdt (0.14) mixes two units: ``Text.insert``/``del``/``len`` and event deltas count UTF-8 bytes,
while ``Text.sticky_index`` and ``StickyIndex.get_index`` count UTF-16 code units (as Yjs does).
They agree on ASCII only, so every conversion goes through here. pycrdt also panics (a
BaseException) when a sticky index made with ``Assoc.AFTER`` at the very end of a text is
resolved, so the end of a text is anchored to the character before it instead.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pycrdt


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


def sticky_at(ytext: pycrdt.Text, byte_offset: int, assoc: pycrdt.Assoc = pycrdt.Assoc.AFTER) -> pycrdt.StickyIndex:
    """A sticky index at a byte offset (clamped to the text)."""
    content = str(ytext)
    units = byte_to_utf16(content, byte_offset)
    end = len(content.encode("utf-16-le")) // 2
    if units >= end:
        units, assoc = end, pycrdt.Assoc.BEFORE  # see the module note: AFTER at the end cannot be resolved
    return ytext.sticky_index(units, assoc)


def resolve(ytext: pycrdt.Text, sticky: pycrdt.StickyIndex) -> int | None:
    """The sticky index's current byte offset, or None if it does not resolve in this text."""
    try:
        units = sticky.get_index()
    except BaseException as exc:  # pyo3's PanicException is a BaseException
        if isinstance(exc, (KeyboardInterrupt, SystemExit, asyncio.CancelledError, GeneratorExit)):
            raise
        return None
    return utf16_to_byte(str(ytext), units)


def decode(ytext: pycrdt.Text, value: Any) -> pycrdt.StickyIndex | None:
    """A sticky index from what clients store: encoded bytes, a list of byte values, or Yjs JSON."""
    try:
        if isinstance(value, (bytes, bytearray)):
            return pycrdt.StickyIndex.decode(bytes(value), ytext)
        if isinstance(value, list) and all(isinstance(b, int) and 0 <= b < 256 for b in value):
            return pycrdt.StickyIndex.decode(bytes(value), ytext)
        if isinstance(value, dict):
            return pycrdt.StickyIndex.from_json(value, ytext)
    except BaseException as exc:
        if isinstance(exc, (KeyboardInterrupt, SystemExit, asyncio.CancelledError, GeneratorExit)):
            raise
    return None
