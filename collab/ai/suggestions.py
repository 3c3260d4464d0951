"""Code suggestions anchored in a file: what participants call (request, accept, reject) and the
region an open suggestion watches.

A suggestion entry lives in the shared ``suggestions`` map (collab/workspace.py). Its ``anchor``
is an encoded sticky index, so it keeps pointing at the same place while people edit elsewhere.
The *watched region* is the anchor's line (the selection's lines when the request carried one):
an edit there changes the text the model was shown, so while the agent streams or once it is
ready, such an edit from any participant turns the suggestion ``stale`` (and cancels the model
stream if one runs). Edits outside the region do not matter. The agent that wrote a suggestion
keeps the watch (collab/ai/agent.py) until the suggestion is accepted, rejected or stale.

Accepting inserts the text at the anchor in one transaction, so it travels as one update and one
undo step, and records provenance on the entry: model, requested_by, decided_by, decided_ts.
Two people accepting the same suggestion within one network round trip would each insert it (a
CRDT cannot make that check atomic across peers); the second sees it at once and can undo.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import pycrdt

from collab import positions
from collab.workspace import Workspace, WorkspaceError, event_delta

OPEN_STATUSES = frozenset(("requested", "streaming", "ready", "stale", "error"))
# Why a suggestion turned stale, in its ``error`` field. The second is the web client's wording too,
# so the entry reads the same whichever participant noticed the edit first.
STALE_WHILE_STREAMING = "the code at the anchor was edited while the suggestion was streaming"
STALE_WHEN_READY = "the code at the anchor was edited"


class SuggestionError(WorkspaceError):
    """A suggestion that cannot be accepted or rejected now; the message says why."""


def request_suggestion(ws: Workspace, file: str, index: int, requested_by: str) -> str:
    """Ask the room's agent for a suggestion at code-point ``index`` of ``file``; returns its id."""
    try:
        return ws.create_suggestion(file, index, model="", requested_by=requested_by)
    except WorkspaceError as exc:
        raise SuggestionError(str(exc)) from exc


def _entry(ws: Workspace, suggestion_id: str) -> pycrdt.Map[Any]:
    value = ws.suggestions.get(suggestion_id)
    if not isinstance(value, pycrdt.Map):
        raise SuggestionError(f"no suggestion {suggestion_id!r}")
    return value


def anchor_byte_index(ws: Workspace, entry: pycrdt.Map[Any]) -> tuple[pycrdt.Text, int]:
    """The file's Y.Text and the anchor's current byte offset in it (pycrdt edits count UTF-8 bytes)."""
    file = ws.suggestion_path(entry)
    ytext = ws.suggestion_file(entry)  # schema 2 follows the file through renames (its file_id)
    if ytext is None:
        raise SuggestionError(f"the file {file!r} of this suggestion no longer exists")
    sticky = positions.decode(ytext, entry.get("anchor"))
    index = None if sticky is None else positions.resolve(ytext, sticky)
    if index is None:
        raise SuggestionError("this suggestion's anchor cannot be resolved in its file")
    return ytext, index


def accept(ws: Workspace, suggestion_id: str, decided_by: str) -> int:
    """Insert a ready suggestion at its anchor; returns the code-point index it went to."""
    with ws.transaction():
        entry = _entry(ws, suggestion_id)
        status = entry.get("status")
        if status != "ready":
            raise SuggestionError(f"only a ready suggestion can be accepted; this one is {status}")
        ytext, byte_index = anchor_byte_index(ws, entry)
        text = str(entry.get("text", ""))
        ytext.insert(byte_index, text)
        ws.decide_suggestion(entry, "accepted", decided_by)
        return positions.byte_to_char(str(ytext), byte_index)


def reject(ws: Workspace, suggestion_id: str, decided_by: str) -> None:
    """Dismiss a suggestion (a streaming one stops: the agent watches its status)."""
    with ws.transaction():
        entry = _entry(ws, suggestion_id)
        status = entry.get("status")
        if status not in OPEN_STATUSES:
            raise SuggestionError(f"this suggestion is already {status}")
        ws.decide_suggestion(entry, "rejected", decided_by)


@dataclass
class Region:
    """Byte range [start, end] of a file (UTF-8 bytes, as pycrdt counts), kept current by following
    every text event of the file from the moment it is made.

    Following the events' deltas costs O(delta) per edit however large the file, which matters
    because a ready suggestion can sit for minutes while people type: resolving sticky indices on
    each keystroke would read the whole file (and copy the document for non-ASCII text) per open
    suggestion. Until an edit touches the region (then the suggestion is stale and its watch ends),
    the bounds move as sticky indices would: the start sticks to the character after it (text
    inserted exactly there goes before the region), the end to the character before it.
    """

    start: int
    end: int

    @classmethod
    def lines_around(cls, ytext: pycrdt.Text, byte_start: int, byte_end: int | None = None) -> "Region":
        content = str(ytext).encode("utf-8")
        lo = min(byte_start, byte_end if byte_end is not None else byte_start)
        hi = max(byte_start, byte_end if byte_end is not None else byte_start)
        line_start = content.rfind(b"\n", 0, lo) + 1
        newline = content.find(b"\n", hi)
        line_end = len(content) if newline < 0 else newline
        return cls(line_start, line_end)

    def follow(self, delta: list[dict[str, Any]]) -> bool:
        """Move the bounds through a text event's delta; did it insert or delete inside [start, end]?

        Typing at the line's first or last character counts as inside; a new line typed after the
        line's newline does not.
        """
        touched = False
        old = 0  # position in the text as it was before this event
        start_shift = end_shift = 0
        for op in delta:
            if "retain" in op:
                old += int(op["retain"])
            elif "insert" in op:
                inserted = op["insert"]
                size = len(inserted.encode("utf-8")) if isinstance(inserted, str) else 1
                touched |= self.start <= old <= self.end
                start_shift += size if old <= self.start else 0
                end_shift += size if old < self.end else 0
            elif "delete" in op:
                size = int(op["delete"])
                touched |= old <= self.end and old + size >= self.start
                # A bound inside the deleted span collapses to where the span was.
                start_shift -= min(size, max(0, self.start - old))
                end_shift -= min(size, max(0, self.end - old))
                old += size
        self.start += start_shift
        self.end += end_shift
        return touched


class Watch:
    """Observers on one open suggestion until :meth:`close`: edits inside its region of the file,
    and changes to its entry. The callbacks run inside the transaction that made the change, where
    the document cannot be written: they should only note what happened.
    """

    def __init__(
        self,
        ytext: pycrdt.Text,
        region: Region,
        entry: pycrdt.Map[Any],
        on_edit: Callable[[], None],
        on_entry: Callable[[], None],
    ) -> None:
        self.region = region
        self._on_edit = on_edit
        self._subs: list[tuple[Any, Any]] = [
            (ytext, ytext.observe(self._text_changed)),
            (entry, entry.observe(lambda _event: on_entry())),
        ]

    def _text_changed(self, event: pycrdt.TextEvent) -> None:
        if self.region.follow(event_delta(event)):
            self._on_edit()

    def close(self) -> None:
        for target, sub in self._subs:
            target.unobserve(sub)
        self._subs.clear()
