"""What notices requests in the shared document: new human chat messages and new suggestion entries.

Observers run inside the transaction that made the change, where nothing may be written, so the
watcher only queues ``(kind, key)``, each key once; the agent takes them off the queue and decides
whether they are its to answer. On start it also queues what was asked while no agent was here.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any, Literal

import pycrdt

from collab.ai.open_suggestions import OpenSuggestions
from collab.ai.suggestions import Region, SuggestionError, anchor_byte_index
from collab.workspace import Workspace, event_delta, event_keys

RequestKind = Literal["chat", "suggestion"]


class RequestWatcher:
    def __init__(self, ws: Workspace, open_suggestions: OpenSuggestions, backlog_seconds: float) -> None:
        self.ws = ws
        self.open = open_suggestions
        self.backlog_seconds = backlog_seconds
        self.queue: asyncio.Queue[tuple[RequestKind, str]] = asyncio.Queue()
        self._seen: set[str] = set()
        self._subs: list[tuple[Any, Any]] = []

    def start(self) -> None:
        self._subs.append((self.ws.chat, self.ws.chat.observe(self._on_chat)))
        self._subs.append((self.ws.suggestions, self.ws.suggestions.observe(self._on_suggestions)))
        self._scan_backlog()

    def stop(self) -> None:
        for target, sub in self._subs:
            target.unobserve(sub)
        self._subs.clear()

    def _on_chat(self, event: pycrdt.ArrayEvent) -> None:
        for op in event_delta(event):
            for item in op.get("insert", ()) if isinstance(op, dict) else ():
                if isinstance(item, pycrdt.Map) and item.get("kind") == "human":
                    self._enqueue("chat", str(item.get("id", "")))

    def _on_suggestions(self, event: pycrdt.MapEvent) -> None:
        for key, change in event_keys(event).items():
            if change.get("action") == "add":
                self._enqueue("suggestion", key)
            elif change.get("action") == "delete":
                self.open.deleted(key)

    def _enqueue(self, kind: RequestKind, key: str) -> None:
        if key and key not in self._seen:
            self._seen.add(key)
            self.queue.put_nowait((kind, key))

    def _scan_backlog(self) -> None:
        """Requests made while no agent was here: recent unanswered messages, open suggestion requests."""
        now = time.time()
        answered = {m.reply_to for m in self.ws.messages() if m.kind == "ai"}
        for item in self.ws.chat:
            if not isinstance(item, pycrdt.Map) or item.get("kind") != "human":
                continue
            mid = str(item.get("id", ""))
            recent = now - float(item.get("ts", 0.0)) <= self.backlog_seconds
            if recent and mid not in answered and not item.get("claimed_by"):
                self._enqueue("chat", mid)
        for key, entry in self.ws.suggestions.items():
            if isinstance(entry, pycrdt.Map) and entry.get("status") == "requested" and not entry.get("agent"):
                self._enqueue("suggestion", key)
            elif isinstance(entry, pycrdt.Map) and entry.get("status") == "ready":
                # Left ready by an agent that is gone (a restart): nobody else keeps it honest.
                with contextlib.suppress(SuggestionError):
                    ytext, byte_index = anchor_byte_index(self.ws, entry)
                    self.open.watch(key, entry, ytext, Region.lines_around(ytext, byte_index))
