"""What the editor hears about the room besides its open files' text: people, their cursors,
the followed participant, the file list, chat and AI suggestions.

Each is a diff against what was last sent, recomputed after document or awareness changes (once
per event-loop turn, outside any transaction), so a burst of updates costs one notification per
thing that changed.
"""

from __future__ import annotations

from typing import Any, Callable

from collab.client.session import Session
from collab.editor.documents import Documents, OpenFile
from collab.workspace import WorkspaceError

Notify = Callable[[str, dict[str, Any]], None]

OPEN_SUGGESTIONS = frozenset(("requested", "streaming", "ready"))
CHAT_WINDOW = 50  # the newest messages whose text is re-read (an AI reply streams into one of them)


def _name(state: dict[str, Any]) -> str:
    user = state.get("user")
    return str(user.get("name", "")) if isinstance(user, dict) else ""


def _color(state: dict[str, Any]) -> str:
    user = state.get("user")
    return str(user.get("color", "")) if isinstance(user, dict) else ""


class RoomEvents:
    def __init__(self, session: Session, documents: Documents, notify: Notify) -> None:
        self.session = session
        self.ws = session.workspace
        self.documents = documents
        self._notify = notify
        self.following: str | None = None
        self._people: list[dict[str, Any]] | None = None
        self._cursors: dict[tuple[int, str], Any] = {}  # (client, path) -> ranges sent
        self._followed: Any = None
        self._paths: list[str] | None = None
        self._chat: dict[str, str] = {}
        self._suggestions: dict[str, tuple[str, str]] = {}
        self._first = True

    def refresh(self) -> None:
        self._files()
        self._people_changed()
        self._cursors_changed()
        self._follow_moved()
        self._chat_changed()
        self._suggestions_changed()
        self._first = False

    def resend_cursors(self, path: str) -> None:
        """After the editor's buffer moved on (a rebased edit): the cursors in it again."""
        for key in [key for key in self._cursors if key[1] == path]:
            del self._cursors[key]
        self._cursors_changed()

    def follow(self, name: str | None) -> None:
        self.following = name
        self._followed = None
        self._follow_moved()

    # -- each kind ---------------------------------------------------------------------------------

    def _files(self) -> None:
        try:
            paths = self.ws.paths()
        except WorkspaceError:
            return
        if paths != self._paths:
            self._paths = paths
            self.documents.renamed()
            self._notify("files", {"paths": paths})

    def _people_changed(self) -> None:
        people = [
            {"client": client, "name": _name(state), "color": _color(state), "path": state.get("file"),
             "agent": "agent" in state}
            for client, state in sorted(self.session.peers().items())
        ]
        if people != self._people:
            self._people = people
            self._notify("people", {"people": people})

    def _ranges(self, opened: OpenFile, state: dict[str, Any]) -> list[dict[str, Any]]:
        cursor = state.get("cursor")
        if state.get("file") != opened.path or not isinstance(cursor, dict):
            return []
        anchor, head = opened.resolve(cursor.get("anchor")), opened.resolve(cursor.get("head"))
        if anchor is None or head is None:
            return []
        return [{"start": opened.position(anchor), "end": opened.position(head)}]

    def _cursors_changed(self) -> None:
        peers = self.session.peers()
        seen: set[tuple[int, str]] = set()
        for path, opened in self.documents.open.items():
            for client, state in peers.items():
                key = (client, path)
                ranges = self._ranges(opened, state)
                if not ranges and key not in self._cursors:
                    continue
                seen.add(key)
                if self._cursors.get(key) == ranges:
                    continue
                self._cursors[key] = ranges
                self._notify("cursor", {"path": path, "client": client, "name": _name(state),
                                        "color": _color(state), "ranges": ranges, **opened.stamp()})
        for key in [key for key in self._cursors if key not in seen]:  # left the room, or the file
            if self._cursors.pop(key):
                self._notify("cursor", {"path": key[1], "client": key[0], "name": "", "color": "", "ranges": []})

    def _follow_moved(self) -> None:
        if self.following is None:
            return
        state = next((s for s in self.session.peers().values() if _name(s) == self.following), None)
        if state is None:
            return
        path, cursor = state.get("file"), state.get("cursor")
        if not isinstance(path, str) or path not in self.ws:
            return
        where = (path, cursor)
        if where == self._followed:
            return
        self._followed = where
        params: dict[str, Any] = {"name": self.following, "path": path}
        opened = self.documents.open.get(path)
        if opened is not None and isinstance(cursor, dict):
            head = opened.resolve(cursor.get("head"))
            if head is not None:
                params.update(position=opened.position(head), **opened.stamp())
        self._notify("follow", params)

    def _chat_changed(self) -> None:
        messages = self.ws.messages()
        for message in messages[-CHAT_WINDOW:]:
            if self._chat.get(message.id) == message.text:
                continue
            self._chat[message.id] = message.text
            if not self._first:
                self._notify("chat", {"id": message.id, "author": message.author, "kind": message.kind,
                                      "text": message.text, "reply_to": message.reply_to})

    def _suggestions_changed(self) -> None:
        for suggestion in self.ws.iter_suggestions():
            now = (suggestion.status, suggestion.text)
            before = self._suggestions.get(suggestion.id)
            if before == now:
                continue
            self._suggestions[suggestion.id] = now
            if before is None and suggestion.status not in OPEN_SUGGESTIONS:
                continue  # decided before we came: history, not news
            params: dict[str, Any] = {"id": suggestion.id, "path": suggestion.file, "text": suggestion.text,
                                      "status": suggestion.status, "model": suggestion.model,
                                      "requested_by": suggestion.requested_by}
            opened = self.documents.open.get(suggestion.file)
            if opened is not None:
                try:
                    index = self.ws.anchor_index(suggestion.id)
                except WorkspaceError:
                    index = None
                if index is not None:
                    params.update(position=opened.position(index), **opened.stamp())
            self._notify("suggestion", params)
