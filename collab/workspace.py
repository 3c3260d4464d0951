"""The shared document's schema: the one definition Python, the browser and third-party tools agree on.

A session is one Yjs document with these root types (see docs/workspace.md):

    meta         Y.Map                         {schema: 2}
    fs           Y.Map<file id, Y.Map>         {path, text: Y.Text, created_by, created_ts, trashed?}
    files        Y.Map<path, Y.Text>           schema 1's files (now the upgrade notice only)
    chat         Y.Array<Y.Map>                {id, author, kind, text: Y.Text, ts, reply_to?}
    suggestions  Y.Map<id, Y.Map>              {file_id, file, anchor, text: Y.Text, status, model, requested_by,
                                                decided_by?, ts}

and, around the AI agent (collab/ai/):

    settings     Y.Map                         {local_models_only?: bool}, set by participants
    ai_usage     Y.Map<agent name, totals>     written by each agent after every request
    agents       Y.Map<agent name, {status, by, ts}>   status "removed" asks an invited agent to leave

plus the awareness state each participant publishes: {user: {name, color, colorLight}, file,
cursor: {anchor, head}} with Yjs relative positions, as y-codemirror.next reads them. Positions
are made and resolved by collab/positions.py (pycrdt's own sticky indices mix units).

The files (collab/workspace_fileops.py, workspace_files.py, workspace_migrate.py) are read and
written in both schemas; ``Workspace.migrate`` turns a schema-1 room into schema 2.

Every Python write to these roots goes through :class:`Workspace` (the browser's twin is
web/src/workspace.ts). Everything here is synchronous and does no I/O: it reads and edits a
``pycrdt.Doc``.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import Any, Iterator, Literal

import pycrdt

from collab import positions, workspace_migrate
# Re-exported: the text-diff helpers were born here and callers import them from the schema module.
from collab.text_diff import apply_text as apply_text
from collab.text_diff import edit_script as edit_script
# Re-exported: the errors and the path rule, and the file half of the schema (both schema versions).
from collab.workspace_errors import MAX_PATH_BYTES as MAX_PATH_BYTES
from collab.workspace_errors import MAX_SEGMENT_BYTES as MAX_SEGMENT_BYTES
from collab.workspace_errors import PathError as PathError
from collab.workspace_errors import WorkspaceError as WorkspaceError
from collab.workspace_errors import validate_path as validate_path
from collab.workspace_fileops import FileOps
from collab.workspace_files import SCHEMA as SCHEMA
from collab.workspace_files import TrashEntry as TrashEntry
from collab.workspace_migrate import FILE_ID

FILES = "files"
CHAT = "chat"
SUGGESTIONS = "suggestions"
SETTINGS = "settings"
LOCAL_MODELS_ONLY = "local_models_only"
AI_USAGE = "ai_usage"
AGENTS = "agents"
AGENT_REMOVED = "removed"

ChatKind = Literal["human", "ai"]
CHAT_KINDS: frozenset[str] = frozenset(("human", "ai"))
SuggestionStatus = Literal["requested", "streaming", "ready", "accepted", "rejected", "stale", "error"]
SUGGESTION_STATUSES: frozenset[str] = frozenset(
    ("requested", "streaming", "ready", "accepted", "rejected", "stale", "error")
)


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


class Workspace(FileOps):
    """Typed access to a session document. Local edits made here are ordinary Yjs transactions,
    labelled with ``origin`` (the agent passes its own, so its writes are told apart); ``user`` is
    who a created or deleted file is recorded as made or deleted by (the trash shows it)."""

    def __init__(self, doc: pycrdt.Doc[Any], *, origin: str | None = None, user: str | None = None) -> None:
        self.doc = doc
        self.origin = origin
        self.user = user if user is not None else (origin or "")
        # The file roots (fs, meta, and schema 1's files) and their path view (collab/workspace_fileops.py).
        self._init_files()
        self.chat: pycrdt.Array[Any] = doc.get(CHAT, type=pycrdt.Array)
        self.suggestions: pycrdt.Map[Any] = doc.get(SUGGESTIONS, type=pycrdt.Map)
        # Made here, not on first use: a root cannot be made inside an observer (read-only transaction).
        self.settings: pycrdt.Map[Any] = doc.get(SETTINGS, type=pycrdt.Map)
        self.ai_usage: pycrdt.Map[Any] = doc.get(AI_USAGE, type=pycrdt.Map)
        self.agents: pycrdt.Map[Any] = doc.get(AGENTS, type=pycrdt.Map)
        self._legacy_subs: list[tuple[Any, pycrdt.Subscription]] = []

    def close(self) -> None:
        """Stop observing the document (the file table's observers): call it when done with the
        workspace while the document lives on (``Session`` does on leaving). Idempotent."""
        self.table.close()
        for root, sub in self._legacy_subs:
            root.unobserve(sub)
        self._legacy_subs = []

    # -- schema-1 edits after the migration (docs/workspace.md "Migration from schema 1") --------

    def carry_legacy(self) -> int:
        """Carry edits made to schema-1 ``files`` texts into their schema-2 files; how many changed."""
        self._check_schema()
        with self.transaction():
            return workspace_migrate.carry_legacy(self.doc, self.table)

    def follow_legacy(self) -> None:
        """For a writer, on the running asyncio loop: carry schema-1 edits as they arrive (an older
        client's, or one in flight while the room was migrated). Stops on ``close``."""
        loop = asyncio.get_running_loop()
        scheduled = False

        def carry() -> None:
            nonlocal scheduled
            scheduled = False
            if self._legacy_subs:
                self.carry_legacy()

        def changed(*_: object) -> None:
            # Observers run inside the transaction: write after it, once per burst of changes.
            nonlocal scheduled
            if not scheduled:
                scheduled = True
                # Staggered by client id: a writer that hears another's carry first has nothing left to do.
                loop.call_later(self.doc.client_id % 16 * 0.02, carry)

        if not self._legacy_subs:
            self._legacy_subs = [
                (self.table.legacy, self.table.legacy.observe_deep(changed)),
                (self.table.meta, self.table.meta.observe(changed)),
            ]
        changed()

    def __enter__(self) -> "Workspace":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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

    def chat_entry(self, message_id: str) -> pycrdt.Map[Any] | None:
        """The chat entry with this id (searched from the newest: requests are recent), or None."""
        for item in reversed(list(self.chat)):
            if isinstance(item, pycrdt.Map) and item.get("id") == message_id:
                return item
        return None

    def _chat_map(self, message_id: str) -> pycrdt.Map[Any]:
        entry = self.chat_entry(message_id)
        if entry is None:
            raise WorkspaceError(f"no chat message {message_id!r}")
        return entry

    def append_chat(self, message_id: str, more: str) -> None:
        """Stream more text into a message (how an AI reply arrives token by token)."""
        self.stream_into(self._chat_map(message_id)["text"], more)

    def stream_into(self, text: pycrdt.Text, more: str) -> None:
        """Append to a reply's or a suggestion's text as its own transaction: peers see it at once."""
        with self.transaction():
            text += more

    def reply_to_chat(
        self, asked: pycrdt.Map[Any], *, claimed_by: str, author: str, text: str = "", **fields: Any
    ) -> pycrdt.Map[Any]:
        """Claim the request ``asked`` for ``claimed_by`` and append the AI reply in the same
        transaction, so every peer sees both or neither (two agents that race converge on one
        ``claimed_by``). ``fields``: model, backend, status; returns the reply's entry."""
        reply = pycrdt.Map(
            {
                "id": uuid.uuid4().hex,
                "author": author,
                "kind": "ai",
                "text": pycrdt.Text(text),
                "ts": time.time(),
                "reply_to": asked.get("id"),
                **fields,
            }
        )
        with self.transaction():
            asked["claimed_by"] = claimed_by
            self.chat.append(reply)
        return reply

    def finish_reply(self, reply: pycrdt.Map[Any], status: str, *, note: str = "", **fields: Any) -> None:
        """A reply's final status (done, error) and fields (usage, error); ``note`` ends its text."""
        with self.transaction():
            if note:
                text = reply["text"]
                text += note
            reply["status"] = status
            for key, value in fields.items():
                reply[key] = value

    def remove_chat(self, entry: pycrdt.Map[Any]) -> None:
        """Remove a chat entry (an agent's reply to a request another agent won)."""
        target = entry.get("id")
        with self.transaction():
            for index, item in enumerate(self.chat):
                if isinstance(item, pycrdt.Map) and item.get("id") == target:
                    del self.chat[index]
                    return

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
        file_id = self.file_id(file)
        self.suggestions[suggestion_id] = pycrdt.Map(
            {
                # schema 2: the file's id, so a rename keeps the link; ``file`` is its path then
                **({FILE_ID: file_id} if file_id is not None else {}),
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

    def _suggestion_map(self, suggestion_id: str) -> pycrdt.Map[Any]:
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
        with self.transaction():
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
            file=self.suggestion_path(entry),
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
        ytext = self.suggestion_file(self._suggestion_map(suggestion_id))
        if ytext is None:
            raise WorkspaceError(f"no file {s.file!r} in the workspace")
        sticky = positions.decode(ytext, s.anchor)
        index = None if sticky is None else positions.resolve_char(ytext, sticky)
        if index is None:
            raise WorkspaceError(f"the anchor of suggestion {suggestion_id!r} does not resolve in {s.file!r}")
        return index

    def suggestion_path(self, entry: pycrdt.Map[Any]) -> str:
        """The path of a suggestion's file now (schema 2 follows its renames; ``file`` as written
        when the file is gone)."""
        file_id = entry.get(FILE_ID)
        where = self.path_of(file_id) if isinstance(file_id, str) else None
        return where if where is not None else str(entry.get("file", ""))

    def suggestion_file(self, entry: pycrdt.Map[Any]) -> pycrdt.Text | None:
        """The Y.Text a suggestion's anchor is in, or None when that file no longer exists."""
        file_id = entry.get(FILE_ID)
        if isinstance(file_id, str) and self.schema >= SCHEMA:
            return self.table.text_of(file_id) if self.table.path_of(file_id) is not None else None
        value = self.files.get(str(entry.get("file", "")))
        return value if isinstance(value, pycrdt.Text) else None

    def iter_suggestions(self) -> Iterator[Suggestion]:
        for key in list(self.suggestions.keys()):
            yield self.suggestion(key)

    def set_suggestion_status(self, entry: pycrdt.Map[Any], status: SuggestionStatus, **fields: Any) -> None:
        """Write a suggestion's status with the fields that go with it (error, agent, usage, ...)."""
        _check_status(status)
        with self.transaction():
            entry["status"] = status
            for key, value in fields.items():
                entry[key] = value

    def decide_suggestion(self, entry: pycrdt.Map[Any], status: SuggestionStatus, decided_by: str) -> None:
        """Record a participant's decision (accepted, rejected) with its provenance."""
        self.set_suggestion_status(entry, status, decided_by=decided_by, decided_ts=time.time())

    def suggestion_output(self, entry: pycrdt.Map[Any]) -> pycrdt.Text:
        """The Y.Text a suggestion's text streams into (made when a client wrote an entry without one)."""
        out = entry.get("text")
        if not isinstance(out, pycrdt.Text):
            out = pycrdt.Text()
            with self.transaction():
                entry["text"] = out
        return out

    # -- room settings and AI bookkeeping ------------------------------------------------------------

    def local_models_only(self) -> bool:
        """Has the room asked that its text go to local models only?"""
        return bool(self.settings.get(LOCAL_MODELS_ONLY))

    def ai_usage_of(self, agent: str) -> dict[str, Any]:
        """An agent's running totals in ``ai_usage`` (empty before its first request)."""
        previous = self.ai_usage.get(agent)
        return dict(previous) if isinstance(previous, dict) else {}

    def record_ai_usage(self, agent: str, totals: dict[str, Any]) -> None:
        with self.transaction():
            self.ai_usage[agent] = totals

    def agent_removed(self, agent: str) -> bool:
        """Has a participant asked the agent ``agent`` to leave (the page's "Remove")?"""
        entry = self.agents.get(agent)
        # Pages write a plain object ({status, by, ts}); a Y.Map would do too.
        return isinstance(entry, (dict, pycrdt.Map)) and entry.get("status") == AGENT_REMOVED


def _check_status(status: str) -> None:
    if status not in SUGGESTION_STATUSES:
        raise WorkspaceError(f"suggestion status must be one of {sorted(SUGGESTION_STATUSES)}, not {status!r}")


# -- observing ------------------------------------------------------------------------------------


def event_delta(event: pycrdt.TextEvent | pycrdt.ArrayEvent) -> list[dict[str, Any]]:
    """A text or array event's delta, typed (pycrdt declares it only in ``__slots__``)."""
    delta: list[dict[str, Any]] = getattr(event, "delta")
    return delta


def event_keys(event: pycrdt.MapEvent) -> dict[str, dict[str, Any]]:
    """A map event's changed keys: {key: {"action": "add" | "update" | "delete", ...}}, typed."""
    keys: dict[str, dict[str, Any]] = getattr(event, "keys")
    return keys


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
