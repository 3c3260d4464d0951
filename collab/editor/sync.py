"""One open file between an editor and the bridge: revisions, rebasing, no I/O.

The scheme (docs/editor-protocol.md, "Revisions") is Teamtype's, with all the transforming done
here so a plugin never transforms anything:

* ``editor`` counts the edits the editor sent (the bridge has applied them all, in order);
* ``revision`` counts the bridge's edits the editor has applied.

The bridge sends each remote edit stamped with both. The editor applies one only if its
``editor_revision`` equals the number of edits it has sent; otherwise it drops it, because it was
computed for a buffer without the editor's latest edit. The editor stamps its edits with the last
``revision`` it applied. When such an edit arrives, every bridge edit after that revision is one the
editor dropped (or will drop): the editor's edit is transformed over them (so it lands where it
was meant, never at a wrong place), applied to the shared text, and what the editor dropped is sent
again, transformed over the editor's edit, as one edit with the next revision. So nothing is lost
on either side and the texts meet.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from collab.editor import delta as d
from collab.editor.lines import Lines, PositionError


class EditRefused(ValueError):
    """An edit the bridge did not apply; the message says why (nothing of it was applied)."""


@dataclass(frozen=True, slots=True)
class Sent:
    revision: int
    delta: d.Delta
    text: str  # the text once this edit is applied


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A remote edit for the editor: ranges in the text of ``revision - 1``, back to front."""

    revision: int
    editor_revision: int
    changes: list[dict[str, Any]]


def changes_of(text: str, delta: d.Delta) -> list[dict[str, Any]]:
    lines = Lines(text)
    return [{"range": lines.range_of(start, end), "text": new} for start, end, new in d.spans(delta)]


def delta_of_changes(text: str, changes: Any) -> tuple[d.Delta, str]:
    """LSP-style changes applied in order to ``text``: one delta and the text they make."""
    if not isinstance(changes, list):
        raise EditRefused("changes must be a list of {range, text}")
    total: d.Delta = []
    for change in changes:
        if not isinstance(change, dict) or not isinstance(change.get("text"), str):
            raise EditRefused("each change is {range, text} with text a string")
        try:
            start, end = Lines(text).parse_range(change.get("range"))
        except PositionError as exc:
            raise EditRefused(str(exc)) from None
        step = d.replace(start, end, change["text"])
        text = d.apply(text, step)
        total = d.compose(total, step)
    return total, text


class FileSync:
    def __init__(self, text: str) -> None:
        self.editor = 0  # editor edits applied
        self.base_revision = 0  # the bridge revision ``base_text`` has
        self.base_text = text  # the editor's text after ``editor`` edits and ``base_revision``
        self.sent: list[Sent] = []  # bridge edits after base_revision, all stamped ``editor``

    @property
    def revision(self) -> int:
        return self.sent[-1].revision if self.sent else self.base_revision

    @property
    def text(self) -> str:
        """The shared text as the bridge last told the editor (every remote edit is sent at once)."""
        return self.sent[-1].text if self.sent else self.base_text

    def remote(self, change: d.Delta) -> Outgoing | None:
        """A change of the shared text made elsewhere; the edit to send, if it changed anything."""
        if not change:
            return None
        before = self.text
        after = d.apply(before, change)
        revision = self.revision + 1
        self.sent.append(Sent(revision, change, after))
        return Outgoing(revision, self.editor, changes_of(before, change))

    def text_at(self, revision: int) -> str:
        """The editor's text at bridge revision ``revision`` (with all its own edits)."""
        if revision == self.base_revision:
            return self.base_text
        for sent in self.sent:
            if sent.revision == revision:
                return sent.text
        raise EditRefused(
            f"revision {revision} is not one this file can be at now ({self.base_revision}..{self.revision})"
        )

    def unseen(self, revision: int) -> d.Delta:
        """The bridge edits after ``revision``, as one delta."""
        total: d.Delta = []
        for sent in self.sent:
            if sent.revision > revision:
                total = d.compose(total, sent.delta)
        return total

    def local(self, revision: int, changes: Any) -> tuple[d.Delta, Outgoing | None]:
        """An editor edit made at bridge revision ``revision``: the delta to apply to the shared
        text (as it is, ``self.text``), and what to send the editor again, if anything."""
        seen = self.text_at(revision)
        mine, editor_text = delta_of_changes(seen, changes)
        theirs = self.unseen(revision)
        for_doc = d.transform(theirs, mine, False)  # at one place, the editor's text goes first
        again = d.transform(mine, theirs, True)
        shared = d.apply(self.text, for_doc)
        self.editor += 1
        self.base_revision = revision
        self.base_text = editor_text
        self.sent = []
        if not again:
            return for_doc, None
        if d.apply(editor_text, again) != shared:  # cannot happen if transform is right; never diverge
            again = d.diff(editor_text, shared)
        out = self.remote(again)
        return for_doc, out

    def resync(self, shared: str) -> Outgoing | None:
        """The shared text is ``shared`` but the bridge's view differs (missed event): send the difference."""
        if shared == self.text:
            return None
        return self.remote(d.diff(self.text, shared))

    def to_shared(self, revision: int, offset: int) -> int | None:
        """A code-point offset in the editor's text at ``revision`` to the shared text (None: stale)."""
        try:
            self.text_at(revision)
        except EditRefused:
            return None
        return d.transform_index(self.unseen(revision), offset)
