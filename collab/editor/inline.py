"""Inline completions for the editor on the other end of the bridge (docs/editor-protocol.md,
"Inline completions").

The bridge is the typist here: it sees every edit and cursor move of its editor, so the pause,
the request in our presence, keeping it while what is typed matches, and withdrawing it live here,
once for every editor plugin. A plugin only draws the ghost text it is sent (``inline``), removes
it when told (``inline_clear``) and asks for ``inline_accept`` on its key.

The request is presence and the agent's reply direct messages to us alone (collab/ai/inline_client.py
has the fields), never the shared document: nothing of them is stored, and in an encrypted room
they are sealed. A reply shows as soon as its direct message arrives (``presence`` runs for it as
for a presence change). Taking a
completion is an ordinary edit of ours, recorded in the root map ``ai_assisted`` as the page does.

Where the ghost is, is a code-point index of the shared text, moved through every change of the
file (the editor's and everyone else's), so a remote edit above it does not cost the completion.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import pycrdt

from collab.ai.inline_client import REQUEST, ROOM_SETTING, ReplyInbox, ask_for
from collab.client.session import Session
from collab.editor import delta as d
from collab.editor.documents import OpenFile, apply_to_text
from collab.editor.lines import utf16_len
from collab.workspace import cursor_json

log = logging.getLogger(__name__)

Notify = Callable[[str, dict[str, Any]], None]

PROVENANCE = "ai_assisted"  # root map: accepted completions by request id (docs/protocol.md)
# What an editor's auto-pairing inserts with an opening character: typing "(" gives "()" with the
# cursor between. The completion's "(" is then typed, and its ")" already in the buffer.
PAIRS = {"(": ")", "[": "]", "{": "}", '"': '"', "'": "'", "`": "`"}


class AdaptiveDebounce:
    """How long a pause asks: 2.5 times the typist's usual gap between keystrokes, within
    0.2-0.6 s, 0.3 s until there is a rhythm (web/src/ai/inline.ts: the same rule)."""

    def __init__(self, fixed: float | None = None) -> None:
        self.fixed = fixed
        self.gap = 0.0
        self.last = 0.0

    def keystroke(self, now: float) -> None:
        gap = now - self.last
        self.last = now
        if gap <= 0 or gap > 1.5:
            return  # a pause, not a rhythm
        self.gap = self.gap * 0.8 + gap * 0.2 if self.gap else gap

    def delay(self) -> float:
        if self.fixed is not None:
            return self.fixed
        return min(0.6, max(0.2, self.gap * 2.5)) if self.gap else 0.3


@dataclass
class Ghost:
    """The request in flight and what of its completion the editor shows."""

    id: str
    opened: OpenFile
    at: int  # code-point index of the shared text where the rest of the completion goes
    asked: float
    typed: str = ""  # what the typist typed of the completion since asking
    text: str = ""  # the completion as the agent sent it so far
    done: bool = False
    model: str = ""
    error: str | None = None
    closers: str = ""  # auto-paired closing characters right after ``at`` (the completion types over them)
    first: float | None = None  # when its first character went to the editor
    sent: Any = None  # the last ``inline`` notification's content (to send nothing twice)
    chunk: tuple[int, str] | None = None  # the editor's last insertion that typed it: (where, what)

    @property
    def rest(self) -> str:
        return self.text[len(self.typed):]


@dataclass
class Stats:
    asked: int = 0
    shown: int = 0
    accepted: int = 0
    cancelled: int = 0
    first_ms: list[float] = field(default_factory=list)  # request in presence -> first character to the editor


class InlineCompletions:
    def __init__(self, session: Session, notify: Notify, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.session = session
        self.ws = session.workspace
        self._notify = notify
        self._clock = clock
        self.enabled = True  # the editor's own choice (inline_enable)
        self.debounce = AdaptiveDebounce()
        self.ghost: Ghost | None = None
        self.stats = Stats()
        self._cursor: tuple[OpenFile, int] | None = None  # where the editor's (empty) cursor is, if anywhere
        self._timer: asyncio.TimerHandle | None = None
        self._typed_out: Ghost | None = None  # the last completion the editor typed to its end
        # The agent's replies to our request: each one updates the ghost at once.
        self._inbox = ReplyInbox(session.awareness, session.provider.on_direct, self._replied)

    # -- what decides whether to ask -------------------------------------------------------------

    def agent(self) -> dict[str, Any] | None:
        """The agent in the room that completes inline (its presence says ``agent.inline``)."""
        for client, state in self.session.awareness.states.items():
            agent = state.get("agent") if isinstance(state, dict) and client != self.session.doc.client_id else None
            if isinstance(agent, dict) and agent.get("inline") is True:
                return agent
        return None

    def available(self) -> bool:
        return (self.enabled and self.session.writable and self.ws.settings.get(ROOM_SETTING) is not False
                and self.agent() is not None)

    # -- the editor's side -------------------------------------------------------------------------

    def edited(self, opened: OpenFile, change: d.Delta, typing: bool) -> None:
        """The editor's edit, as applied to the shared text (``change``, before it)."""
        self.debounce.keystroke(self._clock())
        spans = list(d.spans(change))
        if len(spans) == 1 and spans[0][2]:
            # Where a typist's cursor goes after typing; the editor's cursor request (next) says for sure.
            start, _end, new = spans[0]
            self._cursor = (opened, start + len(new))
        elif self._cursor is not None and self._cursor[0] is opened:
            self._cursor = (opened, d.transform_index(change, self._cursor[1]))
        ghost = self.ghost
        if ghost is not None and not self._keeps(ghost, opened, change):
            self.dismiss("typed")
        if self.ghost is None:
            if typing:
                self._schedule()
            else:
                self._cancel_timer()

    def _keeps(self, ghost: Ghost, opened: OpenFile, change: d.Delta) -> bool:
        """Did this edit type the next characters of the completion? Then the request stays."""
        if ghost.opened is not opened:
            return False  # typing in another file: moved on
        spans = list(d.spans(change))
        if len(spans) != 1:
            return False
        start, end, new = spans[0]
        # An editor may replace more than it changes (VS Code's accept replaces "()" with "(items)"):
        # what the replaced text and the new one begin with alike was not typed.
        old = opened.last_before[start:end]
        same = len(os.path.commonprefix([old, new]))
        start, new = start + same, new[same:]
        rest = ghost.rest
        if start != ghost.at or not new:
            return False
        if start != end:
            # Only the auto-paired closers after the cursor may be typed over (VS Code's Tab
            # replaces them with the completion, which has them).
            if end - start > len(ghost.closers) or not rest.startswith(new):
                return False
            ghost.closers = ghost.closers[end - start:]
            ghost.chunk = (ghost.at, new)
            ghost.typed += new
            ghost.at += len(new)
        elif rest.startswith(new):
            ghost.chunk = (ghost.at, new)
            ghost.typed += new
            ghost.at += len(new)
        elif len(new) == 2 and PAIRS.get(new[0]) == new[1] and rest.startswith(new[0]):
            ghost.typed += new[0]  # an auto-paired opener: the closer waits after the cursor
            ghost.at += 1
            ghost.closers = new[1] + ghost.closers
        elif ghost.typed and PAIRS.get(ghost.typed[-1]) == new:
            # The closer an auto-pairing plugin inserts right after the opener it let through: it
            # stays after the cursor (which the plugin moves back before it).
            ghost.closers = new + ghost.closers
        else:
            return False
        if ghost.done and not ghost.rest:
            self._typed_out = ghost  # an editor that inserts a completion itself says so next (inserted)
            return False  # typed it all: nothing left to show
        self._show(ghost)
        return True

    def remote(self, opened: OpenFile, change: d.Delta) -> None:
        """Someone else's change of an open file: the ghost and the cursor move with it."""
        ghost = self.ghost
        if ghost is not None and ghost.opened is opened:
            ghost.at = d.transform_index(change, ghost.at, stay_before=True)
            ghost.sent = None
            self._show(ghost)
        if self._cursor is not None and self._cursor[0] is opened:
            self._cursor = (opened, d.transform_index(change, self._cursor[1], stay_before=True))

    def cursor(self, opened: OpenFile, anchor: int, head: int) -> None:
        self._cursor = (opened, head) if anchor == head else None
        ghost = self.ghost
        if ghost is None:
            return
        if ghost.opened is opened and anchor == head:
            if head == ghost.at:
                return
            typed = ghost.typed
            if head == ghost.at - 1 and len(typed) >= 2 and PAIRS.get(typed[-2]) == typed[-1]:
                # An opener and its closer both matched the completion, then the auto-pairing editor
                # put the cursor between them: the closer is one it will type over.
                ghost.typed, ghost.at = typed[:-1], head
                ghost.closers = typed[-1] + ghost.closers
                self._show(ghost)
                return
            skipped = head - ghost.at
            text = opened.sync.text
            if 0 < skipped <= len(ghost.closers) and ghost.rest.startswith(ghost.closers[:skipped]) \
                    and text[ghost.at:head] == ghost.closers[:skipped]:
                # The editor typed over its own auto-paired closer (a cursor move, no edit).
                ghost.typed += ghost.closers[:skipped]
                ghost.closers = ghost.closers[skipped:]
                ghost.at = head
                if ghost.done and not ghost.rest:
                    self.dismiss("typed")
                else:
                    self._show(ghost)
                return
        self.dismiss("moved")

    def closed(self, opened: OpenFile) -> None:
        if self.ghost is not None and self.ghost.opened is opened:
            self.dismiss("closed")
        if self._cursor is not None and self._cursor[0] is opened:
            self._cursor = None
            self._cancel_timer()

    # -- asking ----------------------------------------------------------------------------------

    def _schedule(self) -> None:
        self._cancel_timer()
        if self.available():
            self._timer = asyncio.get_running_loop().call_later(self.debounce.delay(), self.ask)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def ask(self) -> str | None:
        """Ask now for a completion at the editor's cursor; the request id, or None (nothing to ask)."""
        self._timer = None
        if self._cursor is None or not self.available():
            return None
        opened, head = self._cursor
        if opened.closed:
            return None
        self.dismiss("asked again")
        text = str(opened.ytext)
        head = min(head, len(text))
        request = ask_for(text, opened.path, utf16_len(text[:head]))
        self.ghost = Ghost(request["id"], opened, head, asked=self._clock())
        self._inbox.expect(self.ghost.id)
        self.stats.asked += 1
        self.session.set_field(REQUEST, request)
        return str(request["id"])

    def _replied(self) -> None:
        try:
            self.presence()  # at once: the first ghost character is what a typist waits for
        except Exception:  # a bug here must not stop the provider's receive loop
            log.exception("inline completion update failed")

    def presence(self) -> None:
        """A reply to our request came (or presence changed): the ghost may have grown."""
        ghost = self.ghost
        if ghost is None:
            return
        reply = self._inbox.reply if self._inbox.request_id == ghost.id else None
        if reply is None:
            return
        text, done = str(reply["text"]), reply.get("done") is True
        if text == ghost.text and done == ghost.done:
            return
        if not text.startswith(ghost.typed):
            self.dismiss("diverged")  # it went another way than what was typed
            return
        ghost.text, ghost.done = text, done
        ghost.model = str(reply.get("model") or "")[:128]
        ghost.error = str(reply["error"])[:300] if isinstance(reply.get("error"), str) else None
        if done and not ghost.rest:
            self.dismiss("empty" if not ghost.error else "error", error=ghost.error)
            return
        self._show(ghost)

    # -- telling the editor ----------------------------------------------------------------------

    def _show(self, ghost: Ghost) -> None:
        opened = ghost.opened
        if not ghost.rest:
            return
        content = (ghost.rest, ghost.at, ghost.done, opened.sync.revision, opened.sync.editor)
        if content == ghost.sent:
            return
        ghost.sent = content
        if ghost.first is None:
            ghost.first = self._clock()
            self.stats.shown += 1
            self.stats.first_ms.append((ghost.first - ghost.asked) * 1000)
        self._notify("inline", {"id": ghost.id, "path": opened.path, "text": ghost.rest, "done": ghost.done,
                                "model": ghost.model, "position": opened.position(ghost.at),
                                "replace": len(ghost.closers) if ghost.closers in ghost.rest else 0,
                                **opened.stamp()})

    def dismiss(self, reason: str, *, error: str | None = None) -> bool:
        """Withdraw the request (the agent then closes the model's stream); the editor drops the ghost."""
        ghost, self.ghost = self.ghost, None
        if ghost is None:
            return False
        self._inbox.expect(None)
        self.session.set_field(REQUEST, None)
        if reason not in ("accepted", "empty", "error"):
            self.stats.cancelled += 1
        params: dict[str, Any] = {"id": ghost.id, "path": ghost.opened.path, "reason": reason}
        if error:
            params["error"] = error
        self._notify("inline_clear", params)
        return True

    def accept(self, request_id: str | None, *, inserted: bool = False) -> dict[str, Any]:
        """Insert the rest of the completion at the ghost (the editor gets it as an ``edit``), record
        it as AI-assisted; where the cursor goes after it. ``inserted``: the editor already inserted
        it itself (VS Code's Tab), as its latest edit: only record that."""
        if inserted:
            return self._accepted_by_editor(request_id)
        ghost = self.ghost
        if ghost is None or (request_id and request_id != ghost.id) or not ghost.rest:
            raise LookupError("no inline completion is showing")
        opened, rest, at = ghost.opened, ghost.rest, ghost.at
        text = opened.sync.text
        # The auto-paired closers after the cursor are part of the completion: written once, not twice.
        over = len(ghost.closers) if ghost.closers and ghost.closers in rest and \
            text[at:at + len(ghost.closers)] == ghost.closers else 0
        self.dismiss("accepted")
        self.stats.accepted += 1
        current = str(opened.ytext)
        with self.ws.transaction():
            apply_to_text(opened.ytext, current, d.replace(at, at + over, rest))
            self._record(ghost, at, rest)
        end = at + len(rest)
        self._cursor = (opened, end)
        return {"id": ghost.id, "path": opened.path, "position": opened.position(end), "text": rest,
                **opened.stamp()}

    def _record(self, ghost: Ghost, at: int, text: str) -> None:
        """Provenance, as the page writes it: which model's text, taken by whom, where (docs/protocol.md)."""
        self.ws.doc.get(PROVENANCE, type=pycrdt.Map)[ghost.id] = {
            "file": ghost.opened.path, "by": self.session.name, "model": ghost.model, "ts": time.time(),
            "start": cursor_json(ghost.opened.ytext, at), "length": utf16_len(text),
        }

    def _accepted_by_editor(self, request_id: str | None) -> dict[str, Any]:
        ghost = self.ghost if self.ghost is not None and self.ghost.id == request_id else self._typed_out
        if ghost is None or ghost.id != request_id or ghost.chunk is None or ghost.opened.closed:
            raise LookupError("no inline completion was inserted")
        at, text = ghost.chunk
        self._typed_out = None
        if ghost is self.ghost:
            self.dismiss("accepted")
        self.stats.accepted += 1
        with self.ws.transaction():
            self._record(ghost, at, text)
        opened = ghost.opened
        return {"id": ghost.id, "path": opened.path, "position": opened.position(at + len(text)), "text": text,
                **opened.stamp()}

    def close(self) -> None:
        self._cancel_timer()
        self.dismiss("left")
        self._inbox.close()
