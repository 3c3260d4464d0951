"""`collab agent` without ``--model``: use what this machine has, and say which and why.

In order: ``OPENAI_API_KEY`` set gives the OpenAI backend with a small, fast default model; an
Ollama answering at ``OLLAMA_HOST`` (or 127.0.0.1:11434) with a code model pulled gives that
model (fill-in-the-middle through Ollama's template); otherwise the builtin completer, which needs
nothing. The Ollama probe is one HTTP GET of ``/api/tags`` with a short timeout, so a machine
without Ollama waits at most that long.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import httpx

from collab.ai.backend import BackendSpecError
from collab.ai.openai_backend import OLLAMA_URL, _ollama_url, checked_base_url

OPENAI_DEFAULT = "gpt-4o-mini"
PROBE_TIMEOUT_S = 0.8
# Code models, best first for completing as you type (small and FIM-trained before large or chat).
_CODE = (r"qwen[\d.]*-?coder", r"deepseek-?coder", r"starcoder", r"codestral", r"code-?llama", r"code")
HOW_TO_CHOOSE = ("choose another with --model (openai:<model>, ollama:<model>, local:<name>, builtin) "
                 "or $COLLAB_AGENT_MODEL")


@dataclass(frozen=True)
class Choice:
    spec: str
    why: str


def ollama_base(env: Mapping[str, str]) -> str:
    host = env.get("OLLAMA_HOST", "").strip()
    return checked_base_url(_ollama_url(host), "OLLAMA_HOST", shown=host) if host else OLLAMA_URL


def ollama_models(base_url: str, timeout: float = PROBE_TIMEOUT_S) -> list[str] | None:
    """The models an Ollama at ``base_url`` (its /v1 URL) has pulled; None when nothing answers there."""
    root = base_url.removesuffix("/").removesuffix("/v1")
    try:
        response = httpx.get(f"{root}/api/tags", timeout=timeout)
        response.raise_for_status()
        models = response.json().get("models", [])
    except (httpx.HTTPError, ValueError, AttributeError):
        return None
    return [str(m.get("name") or m.get("model")) for m in models if isinstance(m, dict) and (m.get("name") or m.get("model"))]


def best_code_model(names: Sequence[str]) -> str | None:
    for pattern in _CODE:
        found = sorted((n for n in names if re.search(pattern, n, re.I)), key=lambda n: ("base" not in n, len(n), n))
        if found:
            return found[0]
    return None


def choose(env: Mapping[str, str] | None = None,
           probe: Callable[[str], list[str] | None] = ollama_models) -> Choice:
    env = os.environ if env is None else env
    if env.get("OPENAI_API_KEY"):
        where = "OPENAI_BASE_URL" if env.get("OPENAI_BASE_URL") else "api.openai.com"
        return Choice(f"openai:{OPENAI_DEFAULT}", f"OPENAI_API_KEY is set ({where})")
    try:
        base = ollama_base(env)
    except BackendSpecError:
        base = None
    names = probe(base) if base else None
    if names is None:
        return Choice("builtin", f"OPENAI_API_KEY is not set and no Ollama answers at {base or 'OLLAMA_HOST'}")
    model = best_code_model(names)
    if model is None:
        return Choice("builtin", f"OPENAI_API_KEY is not set and the Ollama at {base} has no code model pulled "
                      "(ollama pull qwen2.5-coder:1.5b-base)")
    return Choice(f"ollama:{model}", f"an Ollama answers at {base} with the code model {model}")
