"""Prompts for inline completion: fill-in-the-middle templates per model family, and what goes in them.

A code model trained for fill-in-the-middle reads the text before and after the cursor between its
own special tokens and writes only the middle; each family spells those tokens differently and
stops on its own end tokens. The template is chosen from the model's name (or ``--fim-template``);
a model without one (a chat model) gets the prefix and suffix around a ``<CURSOR>`` marker and an
instruction to answer with the insertion only (collab/ai/openai_backend.py, ``fim_as_chat``).

Context, within a token budget (``estimate_tokens``, ~4 characters a token): the prefix (most of
it), the suffix, and short snippets of the room's other files that share identifiers with the lines
around the cursor, written as comments above the prefix, as Continue and Tabby do.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Mapping

from collab.ai.backend import Document, estimate_tokens
from collab.ai.context import clip

_IDENT = re.compile(r"[A-Za-z_]\w{2,}")
SNIPPET_LINES = 8  # a snippet is a window of this many lines of another file
MAX_SNIPPETS = 4
_SCAN_CHARS = 200_000  # other files are scanned up to this many characters each: a pause must stay cheap


@dataclass(frozen=True)
class FimTemplate:
    name: str
    head: str  # before the prefix
    middle: str  # between prefix and suffix
    tail: str  # after the suffix: the model writes from here
    stop: tuple[str, ...]
    suffix_first: bool = False  # Codestral reads [SUFFIX] before [PREFIX]

    def render(self, prefix: str, suffix: str) -> str:
        if self.suffix_first:
            return f"{self.head}{suffix}{self.middle}{prefix}{self.tail}"
        return f"{self.head}{prefix}{self.middle}{suffix}{self.tail}"


TEMPLATES: dict[str, FimTemplate] = {
    t.name: t
    for t in (
        # Qwen2.5-Coder (use a base model for FIM): https://github.com/QwenLM/Qwen2.5-Coder
        FimTemplate("qwen", "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>",
                    ("<|endoftext|>", "<|fim_pad|>", "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>",
                     "<|file_sep|>", "<|repo_name|>", "<|im_end|>")),
        FimTemplate("starcoder2", "<fim_prefix>", "<fim_suffix>", "<fim_middle>",
                    ("<|endoftext|>", "<fim_prefix>", "<fim_suffix>", "<fim_middle>", "<file_sep>")),
        FimTemplate("deepseek", "<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>",
                    ("<｜end▁of▁sentence｜>", "<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>", "<|EOT|>")),
        FimTemplate("codestral", "[SUFFIX]", "[PREFIX]", "", ("</s>", "[PREFIX]", "[SUFFIX]"), suffix_first=True),
        FimTemplate("codellama", "<PRE> ", " <SUF>", " <MID>", ("<EOT>", "</s>", "<PRE>", "<SUF>", "<MID>")),
    )
}

# Model names as servers spell them: "Qwen/Qwen2.5-Coder-1.5B", "qwen2.5-coder:1.5b-base",
# "bigcode/starcoder2-3b", "deepseek-coder-6.7b-base", "codestral-latest", "codellama:7b-code".
_FAMILIES = (
    (re.compile(r"qwen[\d.]*-?coder", re.I), "qwen"),
    (re.compile(r"starcoder", re.I), "starcoder2"),
    (re.compile(r"deepseek-?coder", re.I), "deepseek"),
    (re.compile(r"codestral", re.I), "codestral"),
    (re.compile(r"code-?llama", re.I), "codellama"),
)
CHOICES = (*TEMPLATES, "chat", "auto")


def template_for(model: str, choice: str = "auto") -> FimTemplate | None:
    """The template for ``model``; None means a chat prompt. ``choice`` is ``--fim-template``."""
    if choice == "chat":
        return None
    if choice != "auto":
        return TEMPLATES[choice]
    for pattern, name in _FAMILIES:
        if pattern.search(model):
            return TEMPLATES[name]
    return None


def comment_mark(path: str) -> str:
    ext = path.rsplit(".", 1)[-1].lower() if "." in path else ""
    if ext in ("py", "pyi", "sh", "rb", "toml", "yaml", "yml", "r", "pl", "jl", "ex", "exs", "nim"):
        return "#"
    if ext in ("sql", "lua", "hs", "elm"):
        return "--"
    return "//"


def snippets(files: Mapping[str, str], exclude: str, near: str, tokens: int) -> list[Document]:
    """Windows of other files that share the rarest identifiers with ``near`` (the lines around the cursor)."""
    words = set(_IDENT.findall(near))
    if not words or tokens < 20:
        return []
    windows: list[tuple[str, int, str, set[str]]] = []
    for path, text in files.items():
        if path == exclude:
            continue
        lines = text[:_SCAN_CHARS].split("\n")
        for start in range(0, max(1, len(lines)), SNIPPET_LINES // 2):
            chunk = "\n".join(lines[start : start + SNIPPET_LINES])
            shared = words.intersection(_IDENT.findall(chunk))
            if shared:
                windows.append((path, start, chunk, shared))
    df = Counter(w for *_, shared in windows for w in shared)
    n = len(windows) + 1
    scored = sorted(windows, key=lambda w: (-sum(math.log(n / df[x]) + 0.1 for x in w[3]), w[0], w[1]))
    out: list[Document] = []
    used: set[tuple[str, int]] = set()
    left = tokens
    for path, start, chunk, _ in scored:
        if len(out) >= MAX_SNIPPETS or left < 20:
            break
        if (path, start - SNIPPET_LINES // 2) in used or (path, start + SNIPPET_LINES // 2) in used:
            continue  # overlapping windows say the same thing twice
        chunk = clip(chunk, left)
        out.append(Document(path, chunk))
        used.add((path, start))
        left -= estimate_tokens(chunk) + 5
    return out


def as_comments(path: str, docs: list[Document]) -> str:
    """Snippets as comments in ``path``'s language, placed above the prefix."""
    mark = comment_mark(path)
    parts = []
    for doc in docs:
        body = "\n".join(f"{mark} {line}" if line else mark for line in doc.text.split("\n"))
        parts.append(f"{mark} Path: {doc.path}\n{body}\n")
    return "".join(parts)


def single_line(prefix: str, suffix: str) -> bool:
    """Mid-line (text after the cursor on its line, or a line that is already code): complete this line only."""
    line_after = suffix.split("\n", 1)[0]
    return bool(line_after.strip())


def cut(text: str, *, one_line: bool, max_chars: int, max_lines: int) -> tuple[str, bool]:
    """The completion as far as it should go, and whether it is over (a stop rule hit).

    One line mid-line; otherwise up to a blank line or ``max_lines`` lines; never more than
    ``max_chars`` characters.
    """
    over = False
    if one_line and "\n" in text:
        text, over = text.split("\n", 1)[0], True
    elif not one_line:
        blank = re.search(r"\n[ \t]*\n", text)
        if blank:
            text, over = text[: blank.start()], True
        lines = text.split("\n")
        if len(lines) > max_lines:
            text, over = "\n".join(lines[:max_lines]), True
    if len(text) > max_chars:
        text, over = text[:max_chars], True
    return text, over


def strip_stops(text: str, stops: tuple[str, ...]) -> tuple[str, bool]:
    """``text`` up to the first stop sequence (a server that ignores ``stop`` may send them)."""
    cuts = [i for i in (text.find(s) for s in stops) if i >= 0]
    return (text[: min(cuts)], True) if cuts else (text, False)
