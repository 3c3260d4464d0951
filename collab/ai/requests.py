"""The two kinds of request an agent answers, as steps the request runner (collab/ai/runner.py) calls.

A chat request is a human message that mentions the agent; its answer is a new chat entry that
streams. A suggestion request is an entry with status ``requested``; its answer streams into the
entry's own text. Each kind says whether a request is its agent's to take, how it is claimed
(``claimed_by`` on the message, ``agent`` on the suggestion, written in the same transaction as
the answer starts), what the model is asked, and what the document shows when it ends. Every
write goes through collab/workspace.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, AsyncIterator, Callable, Mapping, Protocol

import pycrdt

from collab.ai.backend import Delta, ModelBackend
from collab.ai.context import Budget, build_chat_request, build_completion_request
from collab.ai.open_suggestions import OpenSuggestion, OpenSuggestions
from collab.ai.suggestions import STALE_WHILE_STREAMING, Region, SuggestionError, anchor_byte_index
from collab.workspace import Workspace

Stop = Callable[[str], None]  # cancels the model stream, giving the outcome ("stale", "superseded", ...)


@dataclass(frozen=True)
class Seat:
    """What every request needs from the agent that takes it."""

    ws: Workspace
    id: str  # written as the claim: name#client id, unique per connection
    name: str
    backend: ModelBackend
    budget: Budget


class Request(Protocol):
    kind: str
    key: str

    def wanted(self) -> bool:
        """Is this request still open, and this agent the one to take it?"""
        ...

    def claim(self, refusal: str | None) -> None:
        """Take it, in one transaction with the start of the answer (or with the refusal, which ends it)."""
        ...

    def begin(self, stop: Stop) -> tuple[AsyncIterator[Delta], pycrdt.Text] | None:
        """The model stream and the text it goes into; None when the request failed already (and says so)."""
        ...

    def streamed(self) -> None:
        """The stream is over: from here on changes to the request no longer stop it."""
        ...

    def cancelled(self, outcome: str) -> None: ...

    def failed(self, error: str) -> None: ...

    def done(self, usage: dict[str, Any]) -> None: ...

    def close(self) -> None:
        """Always called last, whatever happened after ``begin``."""
        ...


class ChatAnswer:
    kind = "chat"

    def __init__(
        self,
        seat: Seat,
        message_id: str,
        addressed: Callable[[str], bool],
        states: Callable[[], Mapping[int, Any]],
    ) -> None:
        self.seat = seat
        self.key = message_id
        self._addressed = addressed
        self._states = states
        self._asked: pycrdt.Map[Any] | None = None
        self._reply: pycrdt.Map[Any] | None = None
        self._sub: Any = None

    def wanted(self) -> bool:
        self._asked = asked = self.seat.ws.chat_entry(self.key)
        return asked is not None and not asked.get("claimed_by") and self._addressed(str(asked.get("text", "")))

    def claim(self, refusal: str | None) -> None:
        assert self._asked is not None
        backend = self.seat.backend
        self._reply = self.seat.ws.reply_to_chat(
            self._asked,
            claimed_by=self.seat.id,
            author=self.seat.name,
            text=refusal or "",
            model=backend.model,
            backend=backend.spec,
            status="refused" if refusal else "streaming",
        )

    def begin(self, stop: Stop) -> tuple[AsyncIterator[Delta], pycrdt.Text] | None:
        asked, reply = self._asked, self._reply
        assert asked is not None and reply is not None
        request = build_chat_request(
            self.seat.ws, self.key, agent_name=self.seat.name, states=self._states(), budget=self.seat.budget
        )

        def on_claim(_event: object) -> None:
            if asked.get("claimed_by") != self.seat.id:  # two agents raced: the claim converged on the other
                stop("superseded")

        self._sub = asked.observe(on_claim)
        return self.seat.backend.chat(request), reply["text"]

    def streamed(self) -> None:
        if self._sub is not None and self._asked is not None:
            self._asked.unobserve(self._sub)
            self._sub = None

    def cancelled(self, outcome: str) -> None:
        assert self._reply is not None
        self.seat.ws.remove_chat(self._reply)

    def failed(self, error: str) -> None:
        assert self._reply is not None
        self.seat.ws.finish_reply(self._reply, "error", note=f"\n\n⚠ The model backend failed: {error}", error=error)

    def done(self, usage: dict[str, Any]) -> None:
        assert self._reply is not None
        self.seat.ws.finish_reply(self._reply, "done", usage=usage)

    def close(self) -> None:
        self.streamed()


class SuggestionAnswer:
    kind = "suggestion"

    def __init__(
        self, seat: Seat, suggestion_id: str, elected: Callable[[], bool], open_suggestions: OpenSuggestions
    ) -> None:
        self.seat = seat
        self.key = suggestion_id
        self._elected = elected
        self._open_suggestions = open_suggestions
        self._entry: pycrdt.Map[Any] | None = None
        self._opened: OpenSuggestion | None = None
        self._out: pycrdt.Text | None = None

    def wanted(self) -> bool:
        entry = self.seat.ws.suggestions.get(self.key)
        if not isinstance(entry, pycrdt.Map) or entry.get("status") != "requested" or entry.get("agent"):
            return False
        self._entry = entry
        return self._elected()

    def claim(self, refusal: str | None) -> None:
        assert self._entry is not None
        backend = self.seat.backend
        claim: dict[str, Any] = {"agent": self.seat.id, "model": backend.model, "backend": backend.spec}
        if refusal:
            self.seat.ws.set_suggestion_status(self._entry, "error", **claim, error=refusal)
        else:
            self.seat.ws.set_suggestion_status(self._entry, "streaming", **claim)

    def begin(self, stop: Stop) -> tuple[AsyncIterator[Delta], pycrdt.Text] | None:
        entry, ws = self._entry, self.seat.ws
        assert entry is not None
        try:
            ytext, byte_index = anchor_byte_index(ws, entry)
        except SuggestionError as exc:
            ws.set_suggestion_status(entry, "error", error=str(exc))
            return None
        request = build_completion_request(ws, ws.suggestion_path(entry), byte_index, self.seat.budget)
        self._out = ws.suggestion_output(entry)
        region = Region.lines_around(ytext, byte_index)
        self._opened = self._open_suggestions.watch(self.key, entry, ytext, region, stop)
        return self.seat.backend.complete(request), self._out

    def streamed(self) -> None:
        # From here on an edit or a status change no longer cancels this request: our own final
        # status write would otherwise read as one.
        if self._opened is not None:
            self._opened.stop = None

    def cancelled(self, outcome: str) -> None:
        assert self._entry is not None
        if outcome == "stale":
            self.seat.ws.set_suggestion_status(self._entry, "stale", error=STALE_WHILE_STREAMING)

    def failed(self, error: str) -> None:
        assert self._entry is not None
        self.seat.ws.set_suggestion_status(self._entry, "error", error=error)

    def done(self, usage: dict[str, Any]) -> None:
        assert self._entry is not None and self._out is not None
        if str(self._out).strip():
            self.seat.ws.set_suggestion_status(self._entry, "ready", usage=usage)
        else:
            self.seat.ws.set_suggestion_status(
                self._entry, "error", error="the model had nothing to suggest here", usage=usage
            )

    def close(self) -> None:
        entry = self._entry
        if entry is not None and (entry.get("status") != "ready" or entry.get("agent") != self.seat.id):
            self._open_suggestions.unwatch(self.key)
