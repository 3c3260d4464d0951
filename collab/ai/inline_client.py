"""Inline completions, the typist's side: the request in our presence, the answer in the agent's.

The channel (docs/protocol.md, "Inline completions"): presence, never the shared document, so
nothing of it is stored by the hub or kept in the room's history, and in an encrypted room it is
sealed like all presence. A typist's state carries ``inline: {id, file, at, n, h}``: a fresh id per
request, the file, the cursor as a UTF-16 offset, the file's length in UTF-16 units and a hash of
the text around the cursor (so the agent answers only once its copy of the file is the one the
typist saw). The agent's state carries ``inline_replies: {"<typist's client id>": {id, text, done,
model, error?}}``; only the typist whose client id and request id match renders it. Removing
``inline`` (or giving it a new id) cancels. The browser's twin is web/src/ai/inline.ts.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, Mapping

import pycrdt

REQUEST = "inline"  # field of a typist's presence
REPLIES = "inline_replies"  # field of an agent's presence
ROOM_SETTING = "inline_completions"  # settings[...] = false turns inline completions off for the room
HASH_BEFORE = 256  # UTF-16 units before the cursor that the hash covers
HASH_AFTER = 64  # and after it
MAX_ID = 64
MAX_FILE = 1024


def units(text: str) -> bytes:
    return text.encode("utf-16-le", errors="surrogatepass")


def window_hash(raw16: bytes, at: int) -> str:
    """FNV-1a (32 bits) of the UTF-16 units around offset ``at``, as 8 hex digits (web/src/ai/inline.ts: the same)."""
    lo, hi = max(0, at - HASH_BEFORE), min(len(raw16) // 2, at + HASH_AFTER)
    h = 0x811C9DC5
    for i in range(lo * 2, hi * 2, 2):
        h ^= raw16[i] | (raw16[i + 1] << 8)
        h = (h * 0x01000193) & 0xFFFFFFFF
    return f"{h:08x}"


@dataclass(frozen=True)
class InlineAsk:
    client: int  # the typist's Yjs client id: replies are addressed to it
    id: str
    file: str
    at: int  # UTF-16 offset of the cursor
    length: int  # the file's length in UTF-16 units, as the typist saw it
    hash: str

    def matches(self, text: str) -> bool:
        raw = units(text)
        return len(raw) // 2 == self.length and 0 <= self.at <= self.length and window_hash(raw, self.at) == self.hash


def read_ask(client: int, state: Any) -> InlineAsk | None:
    """A peer's inline request from its presence state, or None (none there, or not well-formed)."""
    ask = state.get(REQUEST) if isinstance(state, dict) else None
    if not isinstance(ask, dict):
        return None
    rid, file, at, n, h = (ask.get(k) for k in ("id", "file", "at", "n", "h"))
    if not (isinstance(rid, str) and 0 < len(rid) <= MAX_ID and isinstance(file, str) and 0 < len(file) <= MAX_FILE):
        return None
    if not (type(at) is int and type(n) is int and 0 <= at <= n and isinstance(h, str) and len(h) == 8):
        return None
    return InlineAsk(client, rid, file, at, n, h)


def ask_for(text: str, file: str, at: int) -> dict[str, Any]:
    """The ``inline`` presence field asking for a completion at UTF-16 offset ``at`` of ``text``."""
    raw = units(text)
    return {"id": secrets.token_urlsafe(9), "file": file, "at": at, "n": len(raw) // 2, "h": window_hash(raw, at)}


def reply_to(states: Mapping[int, Any], me: int, request_id: str) -> dict[str, Any] | None:
    """The reply addressed to client ``me`` for ``request_id`` in any agent's presence."""
    for state in states.values():
        replies = state.get(REPLIES) if isinstance(state, dict) else None
        reply = replies.get(str(me)) if isinstance(replies, dict) else None
        if isinstance(reply, dict) and reply.get("id") == request_id and isinstance(reply.get("text"), str):
            return reply
    return None


class InlineTypist:
    """A participant that asks for inline completions (tests, the benchmark, editor bridges)."""

    def __init__(self, awareness: pycrdt.Awareness) -> None:
        self.awareness = awareness
        self.request_id: str | None = None

    def ask(self, text: str, file: str, at: int) -> str:
        field = ask_for(text, file, at)
        self.request_id = field["id"]
        self.awareness.set_local_state_field(REQUEST, field)
        return str(field["id"])

    def clear(self) -> None:
        self.request_id = None
        state = dict(self.awareness.get_local_state() or {})
        if state.pop(REQUEST, None) is not None:
            self.awareness.set_local_state(state)

    def reply(self) -> dict[str, Any] | None:
        if self.request_id is None:
            return None
        return reply_to(self.awareness.states, self.awareness.client_id, self.request_id)
