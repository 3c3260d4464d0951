"""Inline completions, the typist's side: the request in our presence, the answer a direct message.

The channel (docs/protocol.md, "Inline completions"): presence and direct messages, never the
shared document, so nothing of it is stored by the hub or kept in the room's history, and in an
encrypted room it is sealed. A typist's state carries ``inline: {id, file, at, n, h}``: a fresh id
per request, the file, the cursor as a UTF-16 offset, the file's length in UTF-16 units and a hash
of the text around the cursor (so the agent answers only once its copy of the file is the one the
typist saw). The agent answers with direct messages to the typist alone (collab.client.direct),
``{"inline_reply": {id, text, done, model, error?}}``, the whole text so far each time; a typist
takes one only if its id is the current request's and its sender's presence says ``agent.inline``.
Removing ``inline`` (or giving it a new id) cancels. The browser's twin is web/src/ai/inline.ts.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, Callable

import pycrdt

from collab.client.direct import DirectHandler

REQUEST = "inline"  # field of a typist's presence
REPLY = "inline_reply"  # the key of the agent's direct message to the typist
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


def is_inline_agent(state: Any) -> bool:
    """Does this presence state say its participant is an agent that completes inline?"""
    agent = state.get("agent") if isinstance(state, dict) else None
    return isinstance(agent, dict) and agent.get("inline") is True


def read_reply(message: dict[str, Any]) -> dict[str, Any] | None:
    """The ``inline_reply`` of a direct message, or None (none there, or not well-formed)."""
    reply = message.get(REPLY)
    if not isinstance(reply, dict) or not isinstance(reply.get("id"), str) or not isinstance(reply.get("text"), str):
        return None
    return reply


Subscribe = Callable[[DirectHandler], Callable[[], None]]  # a provider's on_direct


class ReplyInbox:
    """The replies to our current request, from the direct messages an inline agent sends us."""

    def __init__(self, awareness: pycrdt.Awareness, subscribe: Subscribe,
                 on_reply: Callable[[], None] | None = None) -> None:
        self.awareness = awareness
        self.request_id: str | None = None
        self.reply: dict[str, Any] | None = None  # the latest for request_id
        self.on_reply = on_reply  # called after each reply that counts
        self.ignored = 0  # direct messages that were not a reply to our current request from an agent
        self._unsubscribe: Callable[[], None] | None = subscribe(self._received)

    def expect(self, request_id: str | None) -> None:
        """Count replies to ``request_id`` from now on (None: to nothing)."""
        if request_id != self.request_id:
            self.request_id, self.reply = request_id, None

    def _received(self, sender: int, message: dict[str, Any]) -> None:
        reply = read_reply(message)
        if reply is None or self.request_id is None or reply["id"] != self.request_id \
                or not is_inline_agent(self.awareness.states.get(sender)):
            self.ignored += 1
            return
        self.reply = reply
        if self.on_reply is not None:
            self.on_reply()

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None


class InlineTypist:
    """A participant that asks for inline completions (tests, the benchmark)."""

    def __init__(self, awareness: pycrdt.Awareness, on_direct: Subscribe) -> None:
        """``on_direct``: the provider's (``Provider.on_direct``), where the agent's replies arrive."""
        self.awareness = awareness
        self._listeners: list[Callable[[], None]] = []
        self.inbox = ReplyInbox(awareness, on_direct, self._replied)

    @property
    def request_id(self) -> str | None:
        return self.inbox.request_id

    def ask(self, text: str, file: str, at: int) -> str:
        field = ask_for(text, file, at)
        self.inbox.expect(field["id"])
        self.awareness.set_local_state_field(REQUEST, field)
        return str(field["id"])

    def clear(self) -> None:
        self.inbox.expect(None)
        state = dict(self.awareness.get_local_state() or {})
        if state.pop(REQUEST, None) is not None:
            self.awareness.set_local_state(state)

    def reply(self) -> dict[str, Any] | None:
        return self.inbox.reply

    def observe(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener()`` after each reply to our request; returns the unsubscribe."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _replied(self) -> None:
        for listener in list(self._listeners):
            listener()

    def close(self) -> None:
        self.inbox.close()
