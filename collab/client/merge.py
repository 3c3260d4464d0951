"""Three-way text merge for the one race a folder mirror has.

A local save and a remote edit of the same file can meet before the mirror has seen the save: the
disk then holds base+local, the document holds base+remote. The local edits (a diff against base)
are moved through the remote edits and applied to the document's text, so both are kept, as a
CRDT would have kept them had the save arrived a moment earlier.
"""

from __future__ import annotations

import bisect

from collab.workspace import edit_script

Edit = tuple[int, int, str]


def _map(pos: int, edits: list[Edit], *, end: bool) -> int:
    """Where position ``pos`` of base lands in the edited text."""
    shift = 0
    for start, stop, replacement in edits:
        if stop <= pos and not (stop == pos == start and end):
            shift += len(replacement) - (stop - start)
        elif start < pos < stop or (start == pos and stop > start):
            # Inside a region the other side rewrote: stick to its edge.
            return start + shift + (len(replacement) if end else 0)
        else:
            break
    return pos + shift


def merge3(base: str, local: str, remote: str) -> str:
    """``remote`` with the edits base->local applied on top."""
    if local == base or local == remote:
        return remote  # the same edit made on both sides (a git pull in two folders) is kept once
    if remote == base:
        return local
    remote_edits = edit_script(base, remote)
    out = remote
    for start, stop, replacement in reversed(edit_script(base, local)):
        s = _map(start, remote_edits, end=False)
        e = max(s, _map(stop, remote_edits, end=True)) if stop > start else s
        out = out[:s] + replacement + out[e:]
    return out


def _lines_touched(base: str, edits: list[Edit]) -> set[int]:
    """Which lines of base an edit script changes (an insertion touches the line it lands in)."""
    starts = [0]
    for line in base.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    touched: set[int] = set()
    for start, stop, _ in edits:
        first = bisect.bisect_right(starts, start) - 1
        last = bisect.bisect_right(starts, max(start, stop - 1)) - 1
        touched.update(range(first, last + 1))
    return touched


def clean_merge(base: str, local: str, remote: str) -> str | None:
    """The merge of two edits of ``base`` when they change different lines; None when they touch a
    line in common (there a text merge would guess, so the caller keeps both versions instead)."""
    if _lines_touched(base, edit_script(base, local)) & _lines_touched(base, edit_script(base, remote)):
        return None
    return merge3(base, local, remote)
