"""The shared document's schema: the one definition Python, the browser and third-party tools agree on.

A session is one Yjs document with these root types (see docs/workspace.md):

    files        Y.Map<path, Y.Text>          the workspace, one Y.Text per file
    chat         Y.Array<Y.Map>                {id, author, kind, text: Y.Text, ts, reply_to?}
    suggestions  Y.Map<id, Y.Map>              {file, anchor, text: Y.Text, status, model, requested_by,
                                                decided_by?, ts}

and, written by the AI agent (collab/ai/agent.py): ``settings`` (Y.Map: local_models_only) and
``ai_usage`` (Y.Map<agent name, totals>); plus the awareness state each participant publishes:
{user: {name, color, colorLight}, file, cursor: {anchor, head}} with Yjs relative positions, as y-codemirror.next reads them. Positions
are made and resolved by collab/positions.py (pycrdt's own sticky indices mix units).

Everything here is synchronous and does no I/O: it reads and edits a ``pycrdt.Doc``.
"""

from __future__ import annotations

import difflib
import time
import uuid
from dataclasses import dataclass
from typing import Any, Iterator, Literal

import pycrdt

from collab import positions

FILES = "files"
CHAT = "chat"
SUGGESTIONS = "suggestions"

MAX_PATH_BYTES = 1024  # whole relative path, UTF-8
MAX_SEGMENT_BYTES = 255  # one name: what ext4, APFS and NTFS all accept

ChatKind = Literal["human", "ai"]
CHAT_KINDS: frozenset[str] = frozenset(("human", "ai"))
SuggestionStatus = Literal["requested", "streaming", "ready", "accepted", "rejected", "stale", "error"]
SUGGESTION_STATUSES: frozenset[str] = frozenset(
    ("requested", "streaming", "ready", "accepted", "rejected", "stale", "error")
)
# Diffing costs O(n*m) on the changed region; past this many characters per side, edit whole lines.
_CHAR_DIFF_LIMIT = 2000


class WorkspaceError(ValueError):
    """A request the workspace schema does not allow (bad path, unknown id, bad status)."""


class PathError(WorkspaceError):
    """A file path that is not a safe, relative, /-separated workspace path."""


def validate_path(path: str) -> str:
    """Return ``path`` if it is a legal workspace path, else raise :class:`PathError` saying why.

    Legal: relative, ``/``-separated, no empty, ``.`` or ``..`` segment, no backslash (a Windows
    separator would let one path mean two files), no NUL or other control characters, at most
    MAX_PATH_BYTES bytes in total and MAX_SEGMENT_BYTES per segment.
    """
    if not isinstance(path, str):
        raise PathError(f"a file path must be a string, not {type(path).__name__}")
    if not path:
        raise PathError("empty file path")
    shown = path if len(path) <= 80 else path[:77] + "..."
    if "\x00" in path:
        raise PathError(f"file path {shown!r} contains a NUL character")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in path):
        raise PathError(f"file path {shown!r} contains a control character")
    if "\\" in path:
        raise PathError(f"file path {shown!r} contains a backslash: use / to separate folders")
    if path.startswith("/") or (len(path) > 1 and path[1] == ":"):
        raise PathError(f"file path {shown!r} is absolute: workspace paths are relative")
    try:
        size = len(path.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise PathError(f"file path {shown!r} is not valid Unicode") from exc
    if size > MAX_PATH_BYTES:
        raise PathError(f"file path {shown!r} is {size} bytes long; the limit is {MAX_PATH_BYTES}")
    for segment in path.split("/"):
        if segment in ("", ".", ".."):
            raise PathError(f"file path {shown!r} has an empty, '.' or '..' segment")
        if len(segment.encode("utf-8")) > MAX_SEGMENT_BYTES:
            raise PathError(f"file path {shown!r} has a name over {MAX_SEGMENT_BYTES} bytes")
    return path


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


@dataclass(frozen=True, slots=True)
class ChatMessage:
    id: str
    author: str
    kind: str
    text: str
    ts: float
    reply_to: str | None


@dataclass(frozen=True, slots=True)
class Suggestion:
    id: str
    file: str
    anchor: bytes
    text: str
    status: str
    model: str
    requested_by: str
    decided_by: str | None
    ts: float


class Workspace:
    """Typed access to a session document. Local edits made here are ordinary Yjs transactions."""

    def __init__(self, doc: pycrdt.Doc) -> None:
        self.doc = doc
        self.files: pycrdt.Map = doc.get(FILES, type=pycrdt.Map)
        self.chat: pycrdt.Array = doc.get(CHAT, type=pycrdt.Array)
        self.suggestions: pycrdt.Map = doc.get(SUGGESTIONS, type=pycrdt.Map)

    # -- files -------------------------------------------------------------------------------------

    def paths(self) -> list[str]:
        return sorted(self.files.keys())

    def __contains__(self, path: str) -> bool:
        return path in self.files

    def text(self, path: str) -> pycrdt.Text:
        """The live Y.Text of a file (for sticky indices and observers)."""
        value = self.files.get(path)
        if not isinstance(value, pycrdt.Text):
            raise WorkspaceError(f"no file {path!r} in the workspace")
        return value

    def read(self, path: str) -> str:
        return str(self.text(path))

    def snapshot(self) -> dict[str, str]:
        """Every file's content, read in one transaction (a consistent view)."""
        with self.doc.transaction():
            return {p: str(t) for p, t in self.files.items() if isinstance(t, pycrdt.Text)}

    def write(self, path: str, content: str) -> int:
        """Create the file, or edit it into ``content`` with a minimal diff; return the edit steps."""
        validate_path(path)
        with self.doc.transaction():
            current = self.files.get(path)
            if isinstance(current, pycrdt.Text):
                return apply_text(current, content)
            self.files[path] = pycrdt.Text(content)
            return 1

    def delete(self, path: str) -> bool:
        with self.doc.transaction():
            if path in self.files:
                del self.files[path]
                return True
        return False

    def rename(self, old: str, new: str) -> None:
        """Y.Map has no move: the new path gets a new Y.Text with the content; the old one goes."""
        validate_path(new)
        with self.doc.transaction():
            content = self.read(old)
            del self.files[old]
            self.files[new] = pycrdt.Text(content)

    # -- chat --------------------------------------------------------------------------------------

    def post_chat(
        self, author: str, text: str, *, kind: ChatKind = "human", reply_to: str | None = None
    ) -> str:
        if kind not in CHAT_KINDS:
            raise WorkspaceError(f"chat kind must be one of {sorted(CHAT_KINDS)}, not {kind!r}")
        message_id = uuid.uuid4().hex
        fields: dict[str, Any] = {
            "id": message_id,
            "author": author,
            "kind": kind,
            "text": pycrdt.Text(text),
            "ts": time.time(),
        }
        if reply_to is not None:
            fields["reply_to"] = reply_to
        self.chat.append(pycrdt.Map(fields))
        return message_id

    def _chat_map(self, message_id: str) -> pycrdt.Map:
        for item in self.chat:
            if isinstance(item, pycrdt.Map) and item.get("id") == message_id:
                return item
        raise WorkspaceError(f"no chat message {message_id!r}")

    def append_chat(self, message_id: str, more: str) -> None:
        """Stream more text into a message (how an AI reply arrives token by token)."""
        text = self._chat_map(message_id)["text"]
        text += more

    def messages(self) -> list[ChatMessage]:
        out = []
        for item in self.chat:
            if not isinstance(item, pycrdt.Map):
                continue
            out.append(
                ChatMessage(
                    id=str(item.get("id", "")),
                    author=str(item.get("author", "")),
                    kind=str(item.get("kind", "human")),
                    text=str(item.get("text", "")),
                    ts=float(item.get("ts", 0.0)),
                    reply_to=item.get("reply_to"),
                )
            )
        return out

    # -- suggestions -------------------------------------------------------------------------------

    def create_suggestion(
        self,
        file: str,
        index: int,
        *,
        model: str,
        requested_by: str,
        status: SuggestionStatus = "requested",
        text: str = "",
    ) -> str:
        """Anchor a suggestion at code-point ``index`` of ``file`` (a sticky index survives edits)."""
        _check_status(status)
        ytext = self.text(file)
        size = len(str(ytext))
        if not 0 <= index <= size:
            raise WorkspaceError(f"index {index} is outside {file!r} (0..{size})")
        anchor = positions.sticky_at_char(ytext, index).encode()
        suggestion_id = uuid.uuid4().hex
        self.suggestions[suggestion_id] = pycrdt.Map(
            {
                "file": file,
                "anchor": anchor,
                "text": pycrdt.Text(text),
                "status": status,
                "model": model,
                "requested_by": requested_by,
                "ts": time.time(),
            }
        )
        return suggestion_id

    def _suggestion_map(self, suggestion_id: str) -> pycrdt.Map:
        value = self.suggestions.get(suggestion_id)
        if not isinstance(value, pycrdt.Map):
            raise WorkspaceError(f"no suggestion {suggestion_id!r}")
        return value

    def update_suggestion(
        self,
        suggestion_id: str,
        *,
        status: SuggestionStatus | None = None,
        append: str = "",
        decided_by: str | None = None,
    ) -> None:
        with self.doc.transaction():
            entry = self._suggestion_map(suggestion_id)
            if status is not None:
                _check_status(status)
                entry["status"] = status
            if append:
                text = entry["text"]
                text += append
            if decided_by is not None:
                entry["decided_by"] = decided_by

    def suggestion(self, suggestion_id: str) -> Suggestion:
        entry = self._suggestion_map(suggestion_id)
        return Suggestion(
            id=suggestion_id,
            file=str(entry.get("file", "")),
            anchor=bytes(entry.get("anchor", b"")),
            text=str(entry.get("text", "")),
            status=str(entry.get("status", "")),
            model=str(entry.get("model", "")),
            requested_by=str(entry.get("requested_by", "")),
            decided_by=entry.get("decided_by"),
            ts=float(entry.get("ts", 0.0)),
        )

    def anchor_index(self, suggestion_id: str) -> int:
        """Where the suggestion's anchor is now, as a code-point index into its file."""
        s = self.suggestion(suggestion_id)
        ytext = self.text(s.file)
        sticky = positions.decode(ytext, s.anchor)
        index = None if sticky is None else positions.resolve_char(ytext, sticky)
        if index is None:
            raise WorkspaceError(f"the anchor of suggestion {suggestion_id!r} does not resolve in {s.file!r}")
        return index

    def iter_suggestions(self) -> Iterator[Suggestion]:
        for key in list(self.suggestions.keys()):
            yield self.suggestion(key)


def _check_status(status: str) -> None:
    if status not in SUGGESTION_STATUSES:
        raise WorkspaceError(f"suggestion status must be one of {sorted(SUGGESTION_STATUSES)}, not {status!r}")


# -- awareness -----------------------------------------------------------------------------------


def light_color(color: str) -> str:
    """y-codemirror.next's selection tint: the colour at ~20% opacity (#rrggbb -> #rrggbb33)."""
    return color + "33" if len(color) == 7 and color.startswith("#") else color


def presence(
    name: str,
    color: str,
    *,
    file: str | None = None,
    cursor: tuple[dict[str, Any], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """An awareness state in y-codemirror.next's field names; cursor = (anchor, head) as
    relative-position JSON (``Workspace.cursor_json``)."""
    state: dict[str, Any] = {"user": {"name": name, "color": color, "colorLight": light_color(color)}}
    state["file"] = file
    state["cursor"] = None if cursor is None else {"anchor": cursor[0], "head": cursor[1]}
    return state


def cursor_json(ytext: pycrdt.Text, index: int) -> dict[str, Any]:
    """A code-point index (clamped to the text) as Yjs relative-position JSON (what
    ``Y.createRelativePositionFromJSON`` reads; Yjs resolves it to the same character)."""
    json: dict[str, Any] = positions.sticky_at_char(ytext, index).to_json()
    return json
