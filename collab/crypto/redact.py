"""Secrets out of text that others read: error lines written into a shared chat, and log output.

Two layers, because neither is enough alone. The values actually configured (the API key in use,
the agent token, a room's link secrets) are replaced wherever they appear, whatever they look
like, and so is any long fragment of one (servers echo a key's first characters). Then anything
shaped like a credential goes too, whoever configured it: ``Bearer <token>``, ``key=<value>`` and
its kin (``api_key: ...``, ``token=...``, ``password=...``), ``sk-``/``key-``/``tok-`` keys, and
long high-entropy tokens (a provider's key in a format nobody here knows). Prefixes alone are not
enough: a model server's error once echoed a key that did not start with ``sk-`` into a room.

What is kept: room ids (22 base64url characters: public, and what logs need), model names, host
names, paths and numbers. Pure: no I/O.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from typing import Iterable

REDACTED = "[redacted]"
# Configured values shorter than this are placeholders ("ollama", "unused"), not secrets, and
# replacing them would garble ordinary words.
MIN_SECRET = 8
# A fragment of a configured secret this long is as good as the secret to nobody, but it is what
# servers echo ("Incorrect API key provided: gsk_Ab12...").
MIN_FRAGMENT = 12

_BEARER = re.compile(r"(?i)\b(bearer|basic)(\s+)[A-Za-z0-9._~+/=-]{6,}")
_ASSIGNED = re.compile(
    r"(?i)\b((?:x-)?(?:api[_-]?)?(?:key|token|secret|password|passwd|pwd|auth|authorization|access[_-]?token))"
    r"(\s*[=:]\s*)([\"']?)(?!bearer\b|basic\b|\[redacted\])([^\s\"'&,;)]{4,})"
)
_PREFIXED = re.compile(r"\b(sk|key|tok)-[A-Za-z0-9_\-*]{6,}")
# Runs a token may be made of: base64 (both alphabets, padding only at the end, so "k=<secret>"
# keeps its "k="), hex, and the usual -_ separators.
_RUN = re.compile(r"[A-Za-z0-9+/_\-]{%d,}=*" % MIN_FRAGMENT)
_SEPARATORS = re.compile(r"[-_]")
# What a path's names look like (v1, chat, pytest-63, Documents), and random text almost never does.
_NAME = re.compile(r"[A-Za-z]?[a-z0-9_-]*")
# Shortest piece (between slashes) that counts as a token by shape: longer than a room id (22
# characters), so room ids stay readable in logs and links, and shorter than any provider's key.
TOKEN_MIN = 24
STRETCH_MIN = 12  # letters and digits mixed without a separator: no model name has such a stretch
ENTROPY_MIN = 3.0  # bits per character: random hex has ~3.7 at this length, base64 ~4.5, repeated text less


def entropy(text: str) -> float:
    """Shannon entropy of the characters of ``text``, in bits per character."""
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values()) if text else 0.0


def token_like(piece: str) -> bool:
    """Is this piece of token characters (no slash) shaped like a credential, not a word or a name?

    At least TOKEN_MIN long, high entropy (hex and base64 have it), and a stretch of STRETCH_MIN
    or more without a separator that mixes letters and digits (model names such as
    ``claude-3-5-sonnet-20241022`` and words joined by dashes have none). Measured on random
    values: 99% of 43-character base64url secrets, 98% of 40-character base64, every 32-digit
    hex id and none of 22-character room ids are taken; configured values are caught whatever
    their shape, so this is the second layer.
    """
    if len(piece) < TOKEN_MIN or entropy(piece) < ENTROPY_MIN:
        return False
    return any(
        len(stretch) >= STRETCH_MIN and any(c.isdigit() for c in stretch) and any(c.isalpha() for c in stretch)
        for stretch in _SEPARATORS.split(piece)
    )


class Redactor:
    """Replaces configured secrets and credential-shaped text by ``[redacted]``; ``add`` more any time."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._secrets: set[str] = set()
        self.add(*secrets)

    def add(self, *secrets: str | None) -> None:
        for secret in secrets:
            if secret and len(secret.strip()) >= MIN_SECRET:
                self._secrets.add(secret.strip())

    def __call__(self, text: str) -> str:
        # Longest first: a secret that contains another is replaced whole.
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, REDACTED)
        text = _BEARER.sub(lambda m: f"{m[1]}{m[2]}{REDACTED}", text)
        text = _ASSIGNED.sub(lambda m: f"{m[1]}{m[2]}{m[3]}{REDACTED}", text)
        text = _PREFIXED.sub(REDACTED, text)
        return _RUN.sub(self._run, text)

    def _run(self, match: re.Match[str]) -> str:
        run = match[0]
        if any(run in secret for secret in self._secrets):
            return REDACTED
        pieces = run.split("/")
        if len(pieces) > 1 and any(_NAME.fullmatch(piece) for piece in pieces if piece):
            # A path or a link (v1/chat/completions, example/s/<room id>): judged name by name.
            return "/".join(REDACTED if token_like(piece) else piece for piece in pieces)
        return REDACTED if token_like(run) else run  # standard base64 has slashes too


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with ``secrets`` and anything shaped like a credential replaced by ``[redacted]``."""
    return Redactor(secrets)(text)


class RedactingFormatter(logging.Formatter):
    """A log formatter that redacts the whole formatted record, tracebacks included."""

    def __init__(self, fmt: str, redactor: Redactor) -> None:
        super().__init__(fmt)
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        return self.redactor(super().format(record))
