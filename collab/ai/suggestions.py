"""Code suggestions anchored in a file: what participants call (request, accept, reject) and the
region an in-flight suggestion watches.

A suggestion entry lives in the shared ``suggestions`` map (collab/workspace.py). Its ``anchor``
is an encoded sticky index, so it keeps pointing at the same place while people edit elsewhere.
While the agent streams, the *watched region* is the anchor's line (the selection's lines when
the request carried one): an edit there changes the text the model was shown, so the suggestion
turns ``stale`` and the model stream is cancelled. Edits outside the region do not matter.

Accepting inserts the text at the anchor in one transaction, so it travels as one update and one
undo step, and records provenance on the entry: model, requested_by, decided_by, decided_ts.
Two people accepting the same suggestion within one network round trip would each insert it (a
CRDT cannot make that check atomic across peers); the second sees it at once and can undo.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pycrdt

from collab import positions
from collab.workspace import SuggestionStatus, Workspace, WorkspaceError

OPEN_STATUSES = frozenset(("requested", "streaming", "ready", "stale", "error"))


class SuggestionError(WorkspaceError):
    """A suggestion that cannot be accepted or rejected now; the message says why."""


def request_suggestion(ws: Workspace, file: str, index: int, requested_by: str) -> str:
    """Ask the room's agent for a suggestion at code-point ``index`` of ``file``; returns its id."""
    try:
        return ws.create_suggestion(file, index, model="", requested_by=requested_by)
    except WorkspaceError as exc:
        raise SuggestionError(str(exc)) from exc


def _entry(ws: Workspace, suggestion_id: str) -> pycrdt.Map:
    value = ws.suggestions.get(suggestion_id)
    if not isinstance(value, pycrdt.Map):
        raise SuggestionError(f"no suggestion {suggestion_id!r}")
    return value


def anchor_byte_index(ws: Workspace, entry: pycrdt.Map) -> tuple[pycrdt.Text, int]:
    """The file's Y.Text and the anchor's current byte offset in it (pycrdt edits count UTF-8 bytes)."""
    file = str(entry.get("file", ""))
    ytext = ws.files.get(file)
    if not isinstance(ytext, pycrdt.Text):
        raise SuggestionError(f"the file {file!r} of this suggestion no longer exists")
    sticky = positions.decode(ytext, entry.get("anchor"))
    index = None if sticky is None else positions.resolve(ytext, sticky)
    if index is None:
        raise SuggestionError("this suggestion's anchor cannot be resolved in its file")
    return ytext, index


def accept(ws: Workspace, suggestion_id: str, decided_by: str) -> int:
    """Insert a ready suggestion at its anchor; returns the code-point index it went to."""
    with ws.doc.transaction():
        entry = _entry(ws, suggestion_id)
        status = entry.get("status")
        if status != "ready":
            raise SuggestionError(f"only a ready suggestion can be accepted; this one is {status}")
        ytext, byte_index = anchor_byte_index(ws, entry)
        text = str(entry.get("text", ""))
        ytext.insert(byte_index, text)
        entry["status"] = "accepted"
        entry["decided_by"] = decided_by
        entry["decided_ts"] = time.time()
        return positions.byte_to_char(str(ytext), byte_index)


def reject(ws: Workspace, suggestion_id: str, decided_by: str) -> None:
    """Dismiss a suggestion (a streaming one stops: the agent watches its status)."""
    with ws.doc.transaction():
        entry = _entry(ws, suggestion_id)
        status = entry.get("status")
        if status not in OPEN_STATUSES:
            raise SuggestionError(f"this suggestion is already {status}")
        entry["status"] = "rejected"
        entry["decided_by"] = decided_by
        entry["decided_ts"] = time.time()


def set_status(entry: pycrdt.Map, status: SuggestionStatus, **fields: object) -> None:
    entry["status"] = status
    for key, value in fields.items():
        entry[key] = value


@dataclass
class Region:
    """Byte range [start, end] of a file, carried by sticky indices so it follows concurrent edits."""

    ytext: pycrdt.Text
    start: pycrdt.StickyIndex
    end: pycrdt.StickyIndex

    @classmethod
    def lines_around(cls, ytext: pycrdt.Text, byte_start: int, byte_end: int | None = None) -> "Region":
        content = str(ytext).encode("utf-8")
        lo = min(byte_start, byte_end if byte_end is not None else byte_start)
        hi = max(byte_start, byte_end if byte_end is not None else byte_start)
        line_start = content.rfind(b"\n", 0, lo) + 1
        newline = content.find(b"\n", hi)
        line_end = len(content) if newline < 0 else newline
        # The start sticks to the character after it, the end to the one before: text typed just
        # outside the line (after its newline, before its first character's line) stays outside.
        return cls(
            ytext,
            positions.sticky_at(ytext, line_start, pycrdt.Assoc.AFTER),
            positions.sticky_at(ytext, line_end, pycrdt.Assoc.BEFORE),
        )

    def bounds(self) -> tuple[int, int]:
        size = len(str(self.ytext).encode("utf-8"))
        start = positions.resolve(self.ytext, self.start)
        end = positions.resolve(self.ytext, self.end)
        return (0 if start is None else start), (size if end is None else end)

    def touched_by(self, delta: list[dict[str, object]]) -> bool:
        """Does a text event's delta (positions after the change) insert or delete inside [start, end]?"""
        start, end = self.bounds()
        pos = 0
        for op in delta:
            if "retain" in op:
                pos += int(op["retain"])  # type: ignore[call-overload]
            elif "insert" in op:
                inserted = op["insert"]
                size = len(inserted.encode("utf-8")) if isinstance(inserted, str) else 1
                if pos <= end and pos + size >= start:
                    return True
                pos += size
            elif "delete" in op:
                if start <= pos <= end:
                    return True
        return False
