"""Minimal text edits: turn one file content into another with a few inserts and deletes.

Used wherever a whole new content arrives for a shared Y.Text (a ``collab join`` folder, a
workspace write, a three-way merge), so that an edit travels as a small update and concurrent
edits elsewhere in the file survive. Synchronous, no I/O.
"""

from __future__ import annotations

import difflib

import pycrdt

# Diffing costs O(n*m) on the changed region; past this many characters per side, edit whole lines.
_CHAR_DIFF_LIMIT = 2000


def _utf8_offsets(text: str, indices: list[int]) -> dict[int, int]:
    """Map code-point indices to UTF-8 byte offsets: pycrdt's Text indexes by UTF-8 byte."""
    out: dict[int, int] = {}
    pos = 0
    offset = 0
    for index in sorted(set(indices)):
        offset += len(text[pos:index].encode("utf-8"))
        pos = index
        out[index] = offset
    return out


def edit_script(old: str, new: str) -> list[tuple[int, int, str]]:
    """Minimal-ish edits turning ``old`` into ``new``: (start, end, replacement) in code points.

    Common prefix and suffix are trimmed first (a keystroke costs O(n)); the middle is diffed by
    line, and changed line blocks of moderate size are refined by character, so an edit is a few
    inserts and deletes, never a replace-all.
    """
    if old == new:
        return []
    prefix = 0
    limit = min(len(old), len(new))
    while prefix < limit and old[prefix] == new[prefix]:
        prefix += 1
    suffix = 0
    limit -= prefix
    while suffix < limit and old[len(old) - 1 - suffix] == new[len(new) - 1 - suffix]:
        suffix += 1
    a, b = old[prefix : len(old) - suffix], new[prefix : len(new) - suffix]
    if not a or not b:
        return [(prefix, prefix + len(a), b)]
    a_lines, b_lines = a.splitlines(keepends=True), b.splitlines(keepends=True)
    edits: list[tuple[int, int, str]] = []
    a_starts = [0]
    for line in a_lines:
        a_starts.append(a_starts[-1] + len(line))
    b_starts = [0]
    for line in b_lines:
        b_starts.append(b_starts[-1] + len(line))
    matcher = difflib.SequenceMatcher(None, a_lines, b_lines, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        sa, ea = a_starts[i1], a_starts[i2]
        sb, eb = b_starts[j1], b_starts[j2]
        chunk_a, chunk_b = a[sa:ea], b[sb:eb]
        if tag == "replace" and len(chunk_a) <= _CHAR_DIFF_LIMIT and len(chunk_b) <= _CHAR_DIFF_LIMIT:
            chars = difflib.SequenceMatcher(None, chunk_a, chunk_b, autojunk=False)
            for ctag, c1, c2, d1, d2 in chars.get_opcodes():
                if ctag != "equal":
                    edits.append((prefix + sa + c1, prefix + sa + c2, chunk_b[d1:d2]))
        else:
            edits.append((prefix + sa, prefix + ea, chunk_b))
    return edits


def apply_text(ytext: pycrdt.Text, new: str) -> int:
    """Edit ``ytext`` into ``new`` with a minimal diff; return the number of insert/delete steps.

    Must run inside a transaction so the edit travels as one update.
    """
    old = str(ytext)
    edits = edit_script(old, new)
    if not edits:
        return 0
    offsets = _utf8_offsets(old, [i for s, e, _ in edits for i in (s, e)])
    steps = 0
    # From the end backwards: earlier offsets stay valid while later text changes.
    for start, end, replacement in reversed(edits):
        s, e = offsets[start], offsets[end]
        if e > s:
            del ytext[s:e]
            steps += 1
        if replacement:
            ytext.insert(s, replacement)
            steps += 1
    return steps
