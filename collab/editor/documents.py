"""The session files an editor has open: their revisions (collab/editor/sync.py), the shared
Y.Text each follows, and the edit and cursor requests that touch them.

Remote changes are read from each Y.Text's events as they happen (inside the transaction, before
any editor edit can run), so the bridge's view of a file never falls behind the shared text; the
edit notification goes out at once. The bridge's own writes are not echoed back.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

import pycrdt

from collab import positions
from collab.editor import delta as d
from collab.editor.lines import Lines, PositionError
from collab.editor.rpc import bad_params, refused
from collab.editor.sync import EditRefused, FileSync, Outgoing
from collab.workspace import Workspace, WorkspaceError, event_delta

log = logging.getLogger(__name__)

Notify = Callable[[str, dict[str, Any]], None]
Watch = Callable[["OpenFile", d.Delta], None]


def apply_to_text(ytext: pycrdt.Text, current: str, change: d.Delta) -> None:
    """Write a code-point delta into a Y.Text holding ``current`` (pycrdt counts UTF-8 bytes).
    The caller holds the transaction, so the whole edit travels as one update."""
    pos = 0  # in ``current``
    at = 0  # byte offset in the Y.Text as edited so far
    for op in change:
        if isinstance(op, d.Retain):
            at += len(current[pos : pos + op.n].encode("utf-8"))
            pos += op.n
        elif isinstance(op, d.Delete):
            gone = len(current[pos : pos + op.n].encode("utf-8"))
            del ytext[at : at + gone]
            pos += op.n
        else:
            ytext.insert(at, op.text)
            at += len(op.text.encode("utf-8"))


class OpenFile:
    def __init__(self, path: str, ytext: pycrdt.Text, file_id: str | None, notify: Notify,
                 on_remote: Watch | None = None) -> None:
        self.path = path
        self.ytext = ytext
        self.file_id = file_id
        self.sync = FileSync(str(ytext))
        self._notify = notify
        self._on_remote = on_remote
        self._writing = False
        self.closed = False
        self.last_edit: d.Delta = []  # the editor's latest edit as applied to the shared text
        self.last_before = ""  # and the shared text it was applied to
        self._sub = ytext.observe(self._changed)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.ytext.unobserve(self._sub)

    def send(self, out: Outgoing | None) -> None:
        if out is not None:
            self._notify(
                "edit",
                {"path": self.path, "revision": out.revision, "editor_revision": out.editor_revision,
                 "changes": out.changes},
            )

    def _changed(self, event: pycrdt.TextEvent) -> None:
        if self._writing:
            return
        old, new = self.sync.text, str(self.ytext)
        try:
            change = d.from_utf8(old, event_delta(event))
            if d.apply(old, change) != new:
                raise ValueError("the event does not lead to the text")
        except ValueError:
            change = d.diff(old, new)
        self.send(self.sync.remote(change))
        if self._on_remote is not None:
            self._on_remote(self, change)

    def edit(self, ws: Workspace, revision: int, changes: Any) -> int:
        current = str(self.ytext)
        if current != self.sync.text:  # never expected; keep the editor right rather than guess
            self.send(self.sync.resync(current))
        try:
            for_doc, again = self.sync.local(revision, changes)
        except (EditRefused, ValueError) as exc:
            raise refused(f"edit refused: {exc}") from None
        self._writing = True
        try:
            with ws.transaction():
                apply_to_text(self.ytext, current, for_doc)
        finally:
            self._writing = False
        self.last_edit = for_doc
        self.last_before = current
        self.send(again)
        if str(self.ytext) != self.sync.text:
            self.send(self.sync.resync(str(self.ytext)))
        return self.sync.editor

    def position(self, offset: int) -> dict[str, int]:
        """A code-point offset of the shared text as an editor position at the latest revision."""
        return Lines(self.sync.text).position(offset)

    def stamp(self) -> dict[str, Any]:
        return {"revision": self.sync.revision, "editor_revision": self.sync.editor}

    def resolve(self, value: Any) -> int | None:
        """A peer's Yjs relative position (awareness JSON) as a code-point offset here."""
        sticky = positions.decode(self.ytext, value)
        return None if sticky is None else positions.resolve_char(self.ytext, sticky)


class Documents:
    def __init__(self, ws: Workspace, notify: Notify, *, on_remote: Watch | None = None,
                 on_close: Callable[[OpenFile], None] | None = None) -> None:
        self.ws = ws
        self._notify = notify
        self._on_remote = on_remote
        self._on_close = on_close
        self.open: dict[str, OpenFile] = {}

    def _closed(self, opened: OpenFile) -> None:
        opened.close()
        if self._on_close is not None:
            self._on_close(opened)

    def get(self, path: Any) -> OpenFile:
        if not isinstance(path, str):
            raise bad_params("path must be a string")
        opened = self.open.get(path)
        if opened is None:
            raise refused(f"{path} is not open (send open first)")
        return opened

    def open_file(self, path: Any, create: bool = False) -> OpenFile:
        if not isinstance(path, str):
            raise bad_params("path must be a string")
        if path in self.open:
            self._closed(self.open.pop(path))
        if create and path not in self.ws:
            try:
                self.ws.create(path)
            except WorkspaceError as exc:
                raise refused(str(exc)) from None
        try:
            ytext = self.ws.text(path)
        except WorkspaceError as exc:
            raise refused(str(exc)) from None
        opened = self.open[path] = OpenFile(path, ytext, self.ws.file_id(path), self._notify, self._on_remote)
        return opened

    def close_file(self, path: Any) -> None:
        opened = self.open.pop(path, None) if isinstance(path, str) else None
        if opened is not None:
            self._closed(opened)

    def cursor_offsets(self, params: dict[str, Any]) -> tuple[OpenFile, int, int] | None:
        """The first range of a cursor request in the shared text: (file, anchor, head); None when
        it was made at a revision that is gone (the editor sends a newer one soon)."""
        opened = self.get(params.get("path"))
        ranges = params.get("ranges")
        revision = params.get("revision", opened.sync.revision)
        if not isinstance(ranges, list) or not ranges or not isinstance(revision, int):
            raise bad_params("cursor wants {path, revision, ranges: [{start, end}, ...]} with one range at least")
        try:
            text = opened.sync.text_at(revision)
        except EditRefused:
            return None
        try:
            start, end = Lines(text).parse_range(_ordered(ranges[0]))
        except PositionError as exc:
            raise bad_params(str(exc)) from None
        first, second = opened.sync.to_shared(revision, start), opened.sync.to_shared(revision, end)
        if first is None or second is None:
            return None
        anchor, head = (second, first) if _reversed(ranges[0]) else (first, second)
        return opened, anchor, head

    def renamed(self) -> None:
        """After a change of the file list: follow renames of open files, close deleted ones."""
        for path, opened in list(self.open.items()):
            now = self.ws.path_of(opened.file_id) if opened.file_id is not None else None
            if now == path or opened.file_id is None and path in self.ws:
                continue
            del self.open[path]
            if now is not None:
                opened.path = now
                self.open[now] = opened
                self._notify("renamed", {"old": path, "new": now})
            else:
                self._closed(opened)
                self._notify("closed", {"path": path, "reason": "the file was deleted"})

    def close(self) -> None:
        for opened in self.open.values():
            self._closed(opened)
        self.open.clear()


def _position_key(p: Any) -> tuple[int, int]:
    if isinstance(p, dict) and isinstance(p.get("line"), int) and isinstance(p.get("character"), int):
        return p["line"], p["character"]
    raise bad_params("a position is {line, character}")


def _reversed(r: Any) -> bool:
    """A selection made backwards (end before start): the cursor is at ``end``."""
    return isinstance(r, dict) and _position_key(r.get("end")) < _position_key(r.get("start"))


def _ordered(r: Any) -> Any:
    return {"start": r["end"], "end": r["start"]} if _reversed(r) else r
