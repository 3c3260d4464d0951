"""The built-in completer: zero setup, no download, no network, and no language model.

It completes from the workspace's own text: the identifier you are typing (most frequent
identifier in the workspace with that prefix), then the tokens that most often followed the
same few tokens elsewhere (an n-gram table over the files, longest matching context wins). It is
good at repeated snippets and names, and knows nothing else; chat answers say so, and point at
where the identifiers asked about occur.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter, defaultdict
from typing import AsyncIterator, Iterable, Sequence

from collab.ai.backend import ChatRequest, CompletionRequest, Delta, Document, Usage, estimate_tokens

_TOKEN = re.compile(r"\n[ \t]*|[ \t]+|\w+|[^\w\s]")
_IDENT = re.compile(r"[A-Za-z_]\w*")
MAX_CONTEXT = 6  # longest token context looked up
MIN_CONTEXT = 2  # shorter contexts guess too wildly to be worth showing
MAX_CORPUS_CHARS = 400_000
MAX_LINES = 4


def tokenize(text: str) -> list[str]:
    return _TOKEN.findall(text)


class NgramModel:
    """next-token counts for every context of 1..MAX_CONTEXT tokens in a corpus."""

    def __init__(self, texts: Iterable[str]) -> None:
        self.table: dict[tuple[str, ...], Counter[str]] = defaultdict(Counter)
        self.identifiers: Counter[str] = Counter()
        budget = MAX_CORPUS_CHARS
        for text in texts:
            text = text[:budget]
            budget -= len(text)
            tokens = tokenize(text)
            self.identifiers.update(t for t in tokens if _IDENT.fullmatch(t))
            for i in range(1, len(tokens)):
                for n in range(1, min(MAX_CONTEXT, i) + 1):
                    self.table[tuple(tokens[i - n : i])][tokens[i]] += 1
            if budget <= 0:
                break

    def next_token(self, context: Sequence[str]) -> str | None:
        for n in range(min(MAX_CONTEXT, len(context)), MIN_CONTEXT - 1, -1):
            counts = self.table.get(tuple(context[-n:]))
            if counts:
                token, _ = max(counts.items(), key=lambda kv: (kv[1], -len(kv[0])))
                return token
        return None

    def complete_identifier(self, partial: str) -> str | None:
        candidates = [(n, w) for w, n in self.identifiers.items() if w.startswith(partial) and w != partial]
        if not candidates:
            return None
        _, word = max(candidates, key=lambda nw: (nw[0], -len(nw[1])))
        return word[len(partial) :]


def suggest(prefix: str, suffix: str, documents: Sequence[Document], max_tokens: int) -> list[str]:
    """The tokens to insert at the cursor, possibly none."""
    model = NgramModel([prefix, suffix, *(d.text for d in documents)])
    context = tokenize(prefix)
    out: list[str] = []
    if context and _IDENT.fullmatch(context[-1]) and not re.match(r"\w", suffix):
        rest = model.complete_identifier(context[-1])
        if rest:
            out.append(rest)
            context[-1] += rest
    # Mid-line, complete the line; on a fresh line, a repeated snippet may span a few lines.
    max_lines = 1 if prefix.rsplit("\n", 1)[-1].strip() else MAX_LINES
    lines = 0
    while len(out) < max_tokens:
        token = model.next_token(context)
        if token is None:
            break
        if token.startswith("\n"):
            lines += 1
            # A blank line or enough lines ends a snippet; so does reaching text that is already there.
            if lines >= max_lines or (out and out[-1].startswith("\n")):
                break
        candidate = "".join(out) + token
        if suffix.strip() and suffix.lstrip().startswith(candidate.strip()) and candidate.strip():
            break
        out.append(token)
        context.append(token)
    while out and not out[-1].strip():
        out.pop()  # trailing whitespace is noise at a cursor
    return out


def where_used(question: str, documents: Sequence[Document], limit: int = 8) -> list[str]:
    """'path:line' for identifiers of the question that occur in the workspace, definitions first."""
    words = {w for w in _IDENT.findall(question) if len(w) >= 3 and w.lower() not in _STOPWORDS}
    hits: list[tuple[int, str]] = []
    for doc in documents:
        for number, line in enumerate(doc.text.splitlines(), 1):
            found = words.intersection(_IDENT.findall(line))
            if found:
                rank = 0 if re.match(r"\s*(def|class|function|const|let|var|fn|type|interface)\b", line) else 1
                hits.append((rank, f"{doc.path}:{number}: {line.strip()[:100]}"))
    hits.sort(key=lambda h: h[0])
    return [h for _, h in hits[:limit]]


_STOPWORDS = {"the", "and", "for", "what", "does", "this", "that", "how", "why", "with", "can", "you", "are",
              "explain", "please", "where", "which", "from", "here", "there", "have", "into", "about"}

INTRO = (
    "I am collab's built-in completer, not a language model: I complete identifiers and repeated "
    "snippets from this workspace's own text, offline. I cannot answer questions. Ask for a "
    "suggestion at your cursor, or run the agent with --model openai:<model> or ollama:<model> for chat."
)


class BuiltinBackend:
    spec = "builtin"
    model = "builtin-ngram"
    local = True
    description = "built-in n-gram completer over the workspace text (no language model, offline)"
    answers_questions = False  # published in presence: the page does not offer Explain/Fix/Ask

    async def aclose(self) -> None:
        return None

    async def chat(self, request: ChatRequest) -> AsyncIterator[Delta]:
        question = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
        text = INTRO
        found = where_used(question, request.documents)
        if found:
            text += "\n\nWhere the names you mention occur:\n" + "\n".join(f"- {f}" for f in found)
        produced = 0
        for token in tokenize(text):
            produced += 1
            yield token
            await asyncio.sleep(0)  # stream like the others: other tasks run between tokens
        prompt = sum(estimate_tokens(m.content) for m in request.messages)
        yield Usage(prompt, produced, estimated=True)

    async def complete(self, request: CompletionRequest) -> AsyncIterator[Delta]:
        tokens = await asyncio.to_thread(suggest, request.prefix, request.suffix, request.documents, request.max_tokens)
        for token in tokens:
            yield token
            await asyncio.sleep(0)
        prompt = estimate_tokens(request.prefix) + estimate_tokens(request.suffix)
        yield Usage(prompt, len(tokens), estimated=True)
