"""The bridge: one editor on stdio, one session (docs/editor-protocol.md).

It holds the session with the ordinary client (collab/client/session.py), so plaintext and
encrypted rooms both work and the room secret stays in this process: the editor hands the link
over stdin in ``join`` (or the bridge reads ``$COLLAB_LINK``), it is never on a command line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from collab.ai.suggestions import SuggestionError, accept, reject, request_suggestion
from collab.client.provider import ProviderError, Status
from collab.client.session import Session
from collab.commands import link_arg
from collab.crypto import LinkError
from collab.editor.documents import Documents
from collab.editor.inline import InlineCompletions
from collab.editor.lines import Lines, PositionError
from collab.editor.room import RoomEvents
from collab.editor.rpc import Endpoint, bad_params, refused
from collab.workspace import WorkspaceError

log = logging.getLogger(__name__)

PROTOCOL_VERSION = 1
STATUS_POLL = 0.1  # seconds: how soon "reconnecting" / "connected" reach the editor


def _str(params: dict[str, Any], key: str) -> str:
    value = params.get(key)
    if not isinstance(value, str) or not value:
        raise bad_params(f"{key} must be a non-empty string")
    return value


class Bridge:
    def __init__(self, endpoint: Endpoint, *, name: str, join_timeout: float = 30.0) -> None:
        self.endpoint = endpoint
        self.name = name
        self.join_timeout = join_timeout
        self.session: Session | None = None
        self.documents: Documents | None = None
        self.room: RoomEvents | None = None
        self.inline: InlineCompletions | None = None
        self._stack: contextlib.AsyncExitStack | None = None
        self._status_task: asyncio.Task[None] | None = None
        self._refresh_due = False
        self._subs: list[tuple[Any, Any]] = []
        self.left = asyncio.Event()
        for method in ("initialize", "join", "open", "close", "edit", "cursor", "files", "create", "rename",
                       "delete", "trash", "restore", "empty_trash", "chat", "suggest", "accept", "reject", "follow",
                       "unfollow", "inline_enable", "inline_request", "inline_accept", "inline_dismiss", "leave",
                       "shutdown"):
            endpoint.handlers[method] = getattr(self, f"on_{method}")

    def notify(self, method: str, params: dict[str, Any]) -> None:
        self.endpoint.notify(method, params)

    # -- the session ---------------------------------------------------------------------------------

    def _joined(self) -> tuple[Session, Documents, RoomEvents]:
        if self.session is None or self.documents is None or self.room is None:
            raise refused("not in a session: send join first")
        return self.session, self.documents, self.room

    def _writable(self) -> Session:
        session = self._joined()[0]
        if not session.writable:
            raise refused("this is a read-only link: the session cannot be changed from here")
        return session

    async def on_initialize(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"protocol": PROTOCOL_VERSION, "positionEncoding": "utf-16", "name": "collab editor"}

    async def on_join(self, params: dict[str, Any]) -> dict[str, Any]:
        if self.session is not None:
            raise refused("already in a session: send leave first")
        given = params.get("link")
        link = link_arg.read_link_argument(given if isinstance(given, str) and given != link_arg.FROM_STDIN else None)
        if link is None:
            raise bad_params(f"join wants a link (or ${link_arg.LINK_ENV} set for the bridge)")
        name = params.get("name") if isinstance(params.get("name"), str) and params.get("name") else self.name
        color = params.get("color") if isinstance(params.get("color"), str) else None
        stack = contextlib.AsyncExitStack()
        try:
            session = await stack.enter_async_context(
                Session.connect(link, name=str(name), color=color, timeout=self.join_timeout)
            )
        except (LinkError, ProviderError, OSError, asyncio.TimeoutError) as exc:
            await stack.aclose()
            raise refused(f"cannot join: {exc or type(exc).__name__}") from None
        session.workspace.user = session.name
        if session.writable:
            # As the page does: a writer brings a schema-1 room to schema 2 (a trash, renames that keep
            # edits), once, and empties what the room's trash_days setting says is old.
            try:
                session.workspace.migrate()
                session.workspace.expire_trash()
            except WorkspaceError as exc:
                await stack.aclose()
                raise refused(f"cannot join: {exc}") from None
        self._stack, self.session = stack, session
        inline = self.inline = InlineCompletions(session, self.notify)
        self.documents = Documents(session.workspace, self.notify, on_remote=inline.remote, on_close=inline.closed)
        self.room = RoomEvents(session, self.documents, self.notify)
        self._subs = [
            (session.doc, session.doc.observe(lambda _event: self._schedule())),
            (session.awareness, session.awareness.observe(lambda _topic, _change: self._presence())),
        ]
        self._status_task = asyncio.create_task(self._watch_status(session))
        self.room.refresh()
        return {"room": session.link.room, "name": session.name, "color": session.color,
                "read_only": not session.writable, "encrypted": session.link.keys is not None,
                "paths": session.workspace.paths()}

    def _schedule(self) -> None:
        if not self._refresh_due:
            self._refresh_due = True
            asyncio.get_running_loop().call_soon(self._refresh)

    def _presence(self) -> None:
        if self.inline is not None:
            try:
                self.inline.presence()  # at once: the first ghost character is what a typist waits for
            except Exception:
                log.exception("inline completion update failed")
        self._schedule()

    def _refresh(self) -> None:
        self._refresh_due = False
        if self.room is not None:
            try:
                self.room.refresh()
            except Exception:  # one bad peer state must not stop the others' news
                log.exception("refresh failed")

    async def _watch_status(self, session: Session) -> None:
        last: dict[str, Any] | None = None
        while True:
            fatal = session.fatal
            status = session.status
            state = ("closed" if fatal is not None else
                     "connected" if status is Status.CONNECTED else
                     "reconnecting" if status is Status.OFFLINE else status.value)
            now: dict[str, Any] = {"state": state, "read_only": not session.writable, "pending": session.pending}
            if fatal is not None:
                now["reason"] = str(fatal)
            if now != last:
                last = now
                self.notify("status", now)
            if fatal is not None:
                return
            await asyncio.sleep(STATUS_POLL)

    async def on_leave(self, params: dict[str, Any]) -> dict[str, Any]:
        await self._leave()
        return {}

    async def _leave(self) -> None:
        if self._status_task is not None:
            self._status_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._status_task
            self._status_task = None
        for target, sub in self._subs:
            target.unobserve(sub)
        self._subs = []
        if self.inline is not None:
            self.inline.close()
        if self.documents is not None:
            self.documents.close()
        session, stack = self.session, self._stack
        self.session = self.documents = self.room = None
        self.inline = None
        self._stack = None
        if session is not None and stack is not None:
            with contextlib.suppress(asyncio.TimeoutError, ProviderError):
                await asyncio.wait_for(session.wait_idle(), 5)
            await stack.aclose()
            self.notify("status", {"state": "left", "read_only": False, "pending": 0})

    async def on_shutdown(self, params: dict[str, Any]) -> dict[str, Any]:
        await self._leave()
        self.left.set()
        return {}

    # -- files ----------------------------------------------------------------------------------------

    async def on_files(self, params: dict[str, Any]) -> dict[str, Any]:
        session = self._joined()[0]
        return {"paths": session.workspace.paths()}

    async def on_open(self, params: dict[str, Any]) -> dict[str, Any]:
        session, documents, room = self._joined()
        create = bool(params.get("create")) and session.writable
        opened = documents.open_file(params.get("path"), create=create)
        session.set_file(opened.path)
        room.resend_cursors(opened.path)
        # Where the followed person is in it, now that positions can be sent: after this response.
        asyncio.get_running_loop().call_soon(self._refollow)
        return {"path": opened.path, "text": opened.sync.text, "read_only": not session.writable, **opened.stamp()}

    def _refollow(self) -> None:
        if self.room is not None and self.room.following is not None:
            self.room.follow(self.room.following)

    async def on_close(self, params: dict[str, Any]) -> dict[str, Any]:
        self._joined()[1].close_file(params.get("path"))
        return {}

    async def on_edit(self, params: dict[str, Any]) -> dict[str, Any]:
        session = self._writable()
        documents, room = self._joined()[1:]
        opened = documents.get(params.get("path"))
        revision = params.get("revision")
        if not isinstance(revision, int) or isinstance(revision, bool):
            raise bad_params("edit wants an integer revision")
        rebased = revision != opened.sync.revision
        editor = opened.edit(session.workspace, revision, params.get("changes"))
        if rebased:
            room.resend_cursors(opened.path)
        if self.inline is not None:
            # ``typing: false``: an edit that should not start a completion (Neovim: outside Insert mode)
            self.inline.edited(opened, opened.last_edit, params.get("typing") is not False)
        return {"editor_revision": editor}

    async def on_cursor(self, params: dict[str, Any]) -> dict[str, Any]:
        session, documents = self._joined()[:2]
        found = documents.cursor_offsets(params)
        if found is not None:
            opened, anchor, head = found
            session.set_cursor(opened.path, anchor, head)
            if self.inline is not None:
                self.inline.cursor(opened, anchor, head)
        return {}

    async def on_create(self, params: dict[str, Any]) -> dict[str, Any]:
        session = self._writable()
        text = params.get("text", "")
        if not isinstance(text, str):
            raise bad_params("text must be a string")
        try:
            session.workspace.create(_str(params, "path"), text)
        except WorkspaceError as exc:
            raise refused(str(exc)) from None
        return {}

    async def on_rename(self, params: dict[str, Any]) -> dict[str, Any]:
        session = self._writable()
        try:
            session.workspace.rename(_str(params, "old"), _str(params, "new"))
        except WorkspaceError as exc:
            raise refused(str(exc)) from None
        return {}

    async def on_delete(self, params: dict[str, Any]) -> dict[str, Any]:
        session = self._writable()
        path = _str(params, "path")
        if not session.workspace.delete(path):
            raise refused(f"no file {path!r} in the workspace")
        return {}

    async def on_trash(self, params: dict[str, Any]) -> dict[str, Any]:
        session = self._joined()[0]
        return {"entries": [{"id": e.id, "path": e.path, "by": e.by, "ts": e.ts} for e in session.workspace.trash()]}

    async def on_restore(self, params: dict[str, Any]) -> dict[str, Any]:
        session = self._writable()
        target = params.get("path")
        if target is not None and not isinstance(target, str):
            raise bad_params("path must be a string")
        try:
            return {"path": session.workspace.restore(_str(params, "id"), target or None)}
        except WorkspaceError as exc:
            raise refused(str(exc)) from None

    async def on_empty_trash(self, params: dict[str, Any]) -> dict[str, Any]:
        session = self._writable()
        ids = params.get("ids")
        if ids is not None and not (isinstance(ids, list) and all(isinstance(i, str) for i in ids)):
            raise bad_params("ids must be a list of trash entry ids")
        return {"deleted": session.workspace.empty_trash(ids)}

    # -- chat and the AI ----------------------------------------------------------------------------

    async def on_chat(self, params: dict[str, Any]) -> dict[str, Any]:
        session = self._writable()
        return {"id": session.workspace.post_chat(session.name, _str(params, "text"))}

    async def on_suggest(self, params: dict[str, Any]) -> dict[str, Any]:
        session = self._writable()
        opened = self._joined()[1].get(params.get("path"))
        revision = params.get("revision", opened.sync.revision)
        if not isinstance(revision, int):
            raise bad_params("revision must be an integer")
        try:
            offset = Lines(opened.sync.text_at(revision)).parse_position(params.get("position"))
        except (PositionError, ValueError) as exc:
            raise bad_params(str(exc)) from None
        index = opened.sync.to_shared(revision, offset)
        if index is None:
            raise refused("the position was made at a revision that is gone")
        try:
            return {"id": request_suggestion(session.workspace, opened.path, index, session.name)}
        except SuggestionError as exc:
            raise refused(str(exc)) from None

    async def on_accept(self, params: dict[str, Any]) -> dict[str, Any]:
        session = self._writable()
        try:
            accept(session.workspace, _str(params, "id"), session.name)
        except WorkspaceError as exc:
            raise refused(str(exc)) from None
        return {}

    async def on_reject(self, params: dict[str, Any]) -> dict[str, Any]:
        session = self._writable()
        try:
            reject(session.workspace, _str(params, "id"), session.name)
        except WorkspaceError as exc:
            raise refused(str(exc)) from None
        return {}

    # -- inline completions (collab/editor/inline.py) ------------------------------------------------

    def _inline(self) -> InlineCompletions:
        self._joined()
        assert self.inline is not None
        return self.inline

    async def on_inline_enable(self, params: dict[str, Any]) -> dict[str, Any]:
        inline = self._inline()
        enabled = params.get("enabled", True)
        if not isinstance(enabled, bool):
            raise bad_params("enabled must be true or false")
        debounce = params.get("debounce_ms")
        if debounce is not None:
            if not isinstance(debounce, (int, float)) or isinstance(debounce, bool) or not 0 <= debounce <= 10_000:
                raise bad_params("debounce_ms must be a number of milliseconds (0..10000)")
            inline.debounce.fixed = debounce / 1000
        inline.enabled = enabled
        if not enabled:
            inline.dismiss("off")
        agent = inline.agent()
        return {"enabled": enabled, "available": inline.available(),
                "agent": None if agent is None else {"name": str(agent.get("name", "")), "model": str(agent.get("model", ""))}}

    async def on_inline_request(self, params: dict[str, Any]) -> dict[str, Any]:
        self._writable()
        return {"id": self._inline().ask()}

    async def on_inline_accept(self, params: dict[str, Any]) -> dict[str, Any]:
        self._writable()
        request_id = params.get("id")
        try:
            return self._inline().accept(request_id if isinstance(request_id, str) else None,
                                         inserted=params.get("inserted") is True)
        except LookupError as exc:
            raise refused(str(exc)) from None

    async def on_inline_dismiss(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"dismissed": self._inline().dismiss("dismissed")}

    async def on_follow(self, params: dict[str, Any]) -> dict[str, Any]:
        room = self._joined()[2]
        room.follow(_str(params, "name"))
        return {}

    async def on_unfollow(self, params: dict[str, Any]) -> dict[str, Any]:
        self._joined()[2].follow(None)
        return {}

    async def close(self) -> None:
        await self._leave()
