"""Editor positions (line, character in UTF-16 code units, as LSP counts them) and code points.

The protocol counts like LSP: lines are separated by "\\n" only (a "\\r" is a character of its
line), and ``character`` counts UTF-16 code units, so an emoji outside the BMP (U+1F600) is 2, a CJK
character 1, a combining mark 1 of its own (é written as e + U+0301 is 2). The bridge itself counts
code points (Python's str), so every position crosses here. A character past the end of its line
means the end of the line (LSP's rule); one that falls inside a surrogate pair is refused, as is a
line past the last.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Any


class PositionError(ValueError):
    """A position that is not in the text; the message says why."""


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _units_to_chars(line: str, units: int) -> int:
    """Code points of ``line`` covered by its first ``units`` UTF-16 units (the line end if more)."""
    if line.isascii():
        return min(units, len(line))
    count = 0
    for index, char in enumerate(line):
        if count == units:
            return index
        count += 2 if ord(char) > 0xFFFF else 1
        if count > units:
            raise PositionError(f"character {units} falls inside a surrogate pair (a character outside the BMP)")
    return len(line)


class Lines:
    """Line starts of one text, to convert positions both ways."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = [0]
        at = text.find("\n")
        while at >= 0:
            self.starts.append(at + 1)
            at = text.find("\n", at + 1)

    def line(self, number: int) -> str:
        end = self.starts[number + 1] - 1 if number + 1 < len(self.starts) else len(self.text)
        return self.text[self.starts[number] : end]

    def offset(self, line: int, character: int) -> int:
        """The code-point offset of (line, UTF-16 character)."""
        if not 0 <= line < len(self.starts):
            raise PositionError(f"line {line} is not in the text (it has {len(self.starts)} lines)")
        if character < 0:
            raise PositionError(f"character {character} is negative")
        return self.starts[line] + _units_to_chars(self.line(line), character)

    def position(self, offset: int) -> dict[str, int]:
        """The LSP position of code-point ``offset`` (clamped to the text)."""
        offset = max(0, min(offset, len(self.text)))
        line = bisect_right(self.starts, offset) - 1
        start = self.starts[line]
        return {"line": line, "character": utf16_len(self.text[start:offset])}

    def range_of(self, start: int, end: int) -> dict[str, dict[str, int]]:
        return {"start": self.position(start), "end": self.position(end)}

    def parse_position(self, value: Any) -> int:
        if not isinstance(value, dict):
            raise PositionError("a position is {line, character}")
        line, character = value.get("line"), value.get("character")
        if not isinstance(line, int) or not isinstance(character, int) or isinstance(line, bool):
            raise PositionError("a position's line and character are integers")
        return self.offset(line, character)

    def parse_range(self, value: Any) -> tuple[int, int]:
        if not isinstance(value, dict):
            raise PositionError("a range is {start, end}")
        start, end = self.parse_position(value.get("start")), self.parse_position(value.get("end"))
        if end < start:
            raise PositionError("a range ends before it starts")
        return start, end
