"""What the model sees, within a token budget.

For a chat request: who is asking and the thread they are in, the asker's current file around
their cursor and their selection (read from awareness: ``file`` and ``cursor: {anchor, head}`` as
Yjs relative positions), then other files ranked by how many rare identifiers they share with the
question and the asker's file. For a suggestion: the file's prefix and suffix around the anchor
(fill-in-the-middle), then related files. Budgets are in estimated tokens (backend.estimate_tokens);
each part has a share and clips itself rather than crowding the others out.
"""

from __future__ import annotations

import base64
import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal, Mapping, Sequence

import pycrdt

from collab import positions
from collab.ai.backend import ChatMessage, ChatRequest, CompletionRequest, Document, estimate_tokens
from collab.workspace import Workspace

_IDENT = re.compile(r"[A-Za-z_]\w{2,}")
CHARS_PER_TOKEN = 4


@dataclass(frozen=True)
class Budget:
    context_tokens: int = 6000
    answer_tokens: int = 800
    suggestion_tokens: int = 128


def clip(text: str, tokens: int, keep: str = "start") -> str:
    """At most ~``tokens`` of ``text``, cut at line boundaries where possible; keep its start, end or middle."""
    limit = max(0, tokens) * CHARS_PER_TOKEN
    if len(text) <= limit:
        return text
    if keep == "end":
        cut = text[len(text) - limit :]
        newline = cut.find("\n")
        return cut[newline + 1 :] if 0 <= newline < len(cut) // 4 else cut
    cut = text[:limit]
    newline = cut.rfind("\n")
    return cut[: newline + 1] if newline > len(cut) * 3 // 4 else cut


# -- positions ---------------------------------------------------------------------------------------


def decode_position(ytext: pycrdt.Text, value: Any) -> int | None:
    """A cursor position from awareness as a byte offset into ``ytext``, or None if it is not one of ours.

    Accepts what clients publish: Yjs relative-position JSON (y-codemirror.next), encoded bytes,
    a list of byte values, or base64(url) of the encoding.
    """
    if isinstance(value, str) and value:
        try:
            value = base64.b64decode(value + "=" * (-len(value) % 4), altchars=b"-_")
        except ValueError:
            return None
    sticky = positions.decode(ytext, value)
    index = None if sticky is None else positions.resolve(ytext, sticky)
    return index if index is not None and 0 <= index <= len(str(ytext).encode("utf-8")) else None


def split_at(text: str, byte_index: int) -> tuple[str, str]:
    raw = text.encode("utf-8")
    return raw[:byte_index].decode("utf-8", errors="ignore"), raw[byte_index:].decode("utf-8", errors="ignore")


@dataclass(frozen=True)
class Focus:
    """Where a participant is: file, cursor (code points) and selected text."""

    file: str
    cursor: int
    line: int
    selection: str


def focus_of(ws: Workspace, state: Mapping[str, Any] | None) -> Focus | None:
    if not state:
        return None
    file = state.get("file")
    if not isinstance(file, str) or not isinstance(ws.files.get(file), pycrdt.Text):
        return None
    ytext = ws.text(file)
    content = str(ytext)
    cursor = state.get("cursor") or {}
    head = decode_position(ytext, cursor.get("head")) if isinstance(cursor, dict) else None
    anchor = decode_position(ytext, cursor.get("anchor")) if isinstance(cursor, dict) else None
    if head is None:
        return Focus(file, 0, 1, "")
    before, _ = split_at(content, head)
    selection = ""
    if anchor is not None and anchor != head:
        raw = content.encode("utf-8")
        lo, hi = sorted((anchor, head))
        selection = raw[lo:hi].decode("utf-8", errors="ignore")
    return Focus(file, len(before), before.count("\n") + 1, selection)


def state_of(states: Mapping[int, Any], author: str) -> Mapping[str, Any] | None:
    """The awareness state of the participant named ``author`` (the most recently active if several)."""
    for _client, state in sorted(states.items(), key=lambda kv: -kv[0]):
        if not isinstance(state, dict):
            continue
        user = state.get("user")
        if isinstance(user, dict) and user.get("name") == author:
            return state
    return None


# -- relevance ---------------------------------------------------------------------------------------


def related_files(files: Mapping[str, str], query: str, exclude: set[str], tokens: int) -> list[Document]:
    """Other files by how many identifiers (weighted by rarity across files) they share with ``query``."""
    words = set(_IDENT.findall(query))
    if not words or tokens <= 0:
        return []
    seen = {path: set(_IDENT.findall(text)) for path, text in files.items() if path not in exclude}
    df = Counter(w for idents in seen.values() for w in idents & words)
    n = len(seen) + 1
    scored = []
    for path, idents in seen.items():
        score = sum(math.log(n / df[w]) + 0.1 for w in idents & words)
        if score > 0:
            scored.append((score, path))
    scored.sort(key=lambda sp: (-sp[0], sp[1]))
    out: list[Document] = []
    left = tokens
    for _, path in scored:
        if left < 50:
            break
        text = clip(files[path], left)
        out.append(Document(path, text))
        left -= estimate_tokens(text) + 10
    return out


# -- chat ---------------------------------------------------------------------------------------------


def system_prompt(agent_name: str, participants: Sequence[str]) -> str:
    people = ", ".join(participants) or "your teammates"
    return (
        f"You are {agent_name}, an AI pair programmer in a shared, live coding session with {people}. "
        "Everyone in the room reads your answer as you write it. Answer the person who addressed you, "
        "concisely. When you propose code, use fenced code blocks and name the file."
    )


def build_chat_request(
    ws: Workspace,
    message_id: str,
    *,
    agent_name: str,
    states: Mapping[int, Any],
    budget: Budget,
) -> ChatRequest:
    messages = ws.messages()
    by_id = {m.id: m for m in messages}
    asked = by_id[message_id]
    total = budget.context_tokens
    question = clip(asked.text, total // 4)

    # The thread: the reply_to chain above the question, then the recent room history before it.
    chain: list[str] = []
    parent = asked.reply_to
    while parent and parent in by_id and parent not in chain and len(chain) < 20:
        chain.append(parent)
        parent = by_id[parent].reply_to
    index = next(i for i, m in enumerate(messages) if m.id == message_id)
    recent = [m.id for m in messages[max(0, index - 12) : index] if m.id not in chain]
    history_ids = list(reversed(chain)) + recent
    history: list[ChatMessage] = []
    left = total // 5
    for mid in reversed(history_ids):  # newest first until the share is spent
        m = by_id[mid]
        if m.kind == "ai" and m.reply_to and not m.text.strip():
            continue
        text = clip(m.text, left)
        if not text:
            break
        left -= estimate_tokens(text) + 4
        role: Literal["assistant", "user"] = "assistant" if m.kind == "ai" else "user"
        history.append(ChatMessage(role, text if role == "assistant" else f"{m.author}: {text}"))
    history.reverse()

    files = ws.snapshot()
    focus = focus_of(ws, state_of(states, asked.author))
    parts: list[str] = []
    documents: list[Document] = []
    exclude: set[str] = set()
    if focus is not None:
        exclude.add(focus.file)
        content = files.get(focus.file, "")
        before, after = content[: focus.cursor], content[focus.cursor :]
        share = total * 35 // 100
        window = clip(before, share * 2 // 3, keep="end") + "<CURSOR>" + clip(after, share // 3)
        parts.append(f"{asked.author} is in {focus.file}, line {focus.line}. Around their cursor:\n"
                     f"```\n{window}\n```")
        documents.append(Document(focus.file, window.replace("<CURSOR>", "")))
        if focus.selection:
            parts.append(f"{asked.author} has selected:\n```\n{clip(focus.selection, total // 4)}\n```")
    used = sum(estimate_tokens(p) for p in parts) + estimate_tokens(question)
    used += sum(estimate_tokens(m.content) for m in history)
    query = asked.text + "\n" + (documents[0].text if documents else "")
    related = related_files(files, query, exclude, total - used - 200)
    for doc in related:
        parts.append(f"File {doc.path}:\n```\n{doc.text}\n```")
    documents.extend(related)
    if files and not related and focus is None:
        parts.append("Files in the workspace: " + ", ".join(sorted(files)[:100]))

    participants = sorted({m.author for m in messages if m.kind == "human"})
    out = [ChatMessage("system", system_prompt(agent_name, participants))]
    if parts:
        out.append(ChatMessage("system", "Context from the shared workspace:\n\n" + "\n\n".join(parts)))
    out.extend(history)
    out.append(ChatMessage("user", f"{asked.author}: {question}"))
    return ChatRequest(messages=tuple(out), documents=tuple(documents), max_tokens=budget.answer_tokens)


# -- suggestions --------------------------------------------------------------------------------------


def build_completion_request(ws: Workspace, file: str, byte_index: int, budget: Budget) -> CompletionRequest:
    files = ws.snapshot()
    prefix, suffix = split_at(files.get(file, ""), byte_index)
    total = budget.context_tokens
    prefix = clip(prefix, total * 55 // 100, keep="end")
    suffix = clip(suffix, total * 20 // 100)
    used = estimate_tokens(prefix) + estimate_tokens(suffix)
    tail = prefix[-2000:] + suffix[:500]  # what is near the cursor says most about what is relevant
    related = related_files(files, tail, {file}, total - used)
    return CompletionRequest(
        path=file, prefix=prefix, suffix=suffix, documents=tuple(related), max_tokens=budget.suggestion_tokens
    )
