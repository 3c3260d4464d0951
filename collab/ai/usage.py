"""Usage accounting: what each model call cost and how fast it was, kept where the room sees it.

Every request the agent sends to its backend ends in one :meth:`UsageLedger.finish`: the tokens
count against the room's hourly budget (collab/ai/limits.py), one log line records the figures
(never the room's text: prompts and answers may be secret), and the agent's running totals in the
shared ``ai_usage`` map (collab/workspace.py) grow, so every participant sees what the room spent.

Inline completions (collab/ai/inline.py) are counted apart: ``inline_requests``, ``inline_cancelled``,
``inline_errors``, ``inline_prompt_tokens`` and ``inline_completion_tokens`` in the same entry. A
typist pausing every few seconds makes one a few seconds, so they are written at most every
``INLINE_FLUSH_S`` (each write is a stored update of the shared document), and logged at debug level.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from collab.ai.backend import ModelBackend, Usage
from collab.ai.limits import RateLimiter
from collab.workspace import Workspace

# One logger for the whole agent loop, named as before it was split into modules (log filters use it).
log = logging.getLogger("collab.ai.agent")

HISTORY = 100  # requests kept in memory for inspection
INLINE_FLUSH_S = 5.0
INLINE_FIELDS = ("inline_requests", "inline_cancelled", "inline_errors", "inline_prompt_tokens", "inline_completion_tokens")


@dataclass
class RequestStats:
    kind: str  # "chat" | "suggestion"
    request_id: str
    started: float
    first_token: float | None = None
    finished: float | None = None
    chunks: int = 0
    usage: Usage | None = None
    outcome: str = "running"

    @property
    def ttft(self) -> float | None:
        return None if self.first_token is None else self.first_token - self.started

    @property
    def tokens_per_s(self) -> float | None:
        if self.first_token is None or self.finished is None:
            return None
        tokens = self.usage.completion_tokens if self.usage else self.chunks
        span = self.finished - self.first_token
        return tokens / span if span > 0 else None


def usage_fields(stats: RequestStats) -> dict[str, Any]:
    """A request's usage as the shared document records it (``usage`` on a reply or suggestion).

    Servers that report no usage get an estimate: one token per streamed chunk, no prompt tokens.
    """
    usage = stats.usage or Usage(0, stats.chunks, estimated=True)
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "estimated": usage.estimated,
        "ttft_ms": None if stats.ttft is None else round(stats.ttft * 1000, 1),
        "tokens_per_s": None if stats.tokens_per_s is None else round(stats.tokens_per_s, 1),
    }


class UsageLedger:
    """One agent's accounts in one room."""

    def __init__(self, ws: Workspace, name: str, backend: ModelBackend, limiter: RateLimiter) -> None:
        self.ws = ws
        self.name = name
        self.backend = backend
        self.limiter = limiter
        self.history: list[RequestStats] = []
        self.inline: dict[str, int] = dict.fromkeys(INLINE_FIELDS, 0)  # not yet in ai_usage
        self.inline_total: dict[str, int] = dict.fromkeys(INLINE_FIELDS, 0)  # since this agent started

    def finish_inline(self, stats: RequestStats) -> None:
        """An inline completion's call: counted now, written into ``ai_usage`` by :meth:`flush_inline`."""
        if stats.finished is None:
            return
        self.history.append(stats)
        del self.history[:-HISTORY]
        fields = usage_fields(stats)
        self.limiter.spent(fields["prompt_tokens"] + fields["completion_tokens"])
        log.debug("agent %s inline %s: %s, ttft %s ms, %d + %d tokens", self.name, stats.request_id[:8],
                  stats.outcome, fields["ttft_ms"], fields["prompt_tokens"], fields["completion_tokens"])
        add = {
            "inline_requests": 1,
            "inline_cancelled": int(stats.outcome == "cancelled"),
            "inline_errors": int(stats.outcome == "error"),
            "inline_prompt_tokens": fields["prompt_tokens"],
            "inline_completion_tokens": fields["completion_tokens"],
        }
        for key, value in add.items():
            self.inline[key] += value
            self.inline_total[key] += value

    def flush_inline(self) -> None:
        if not self.inline["inline_requests"]:
            return
        total = dict(self.ws.ai_usage_of(self.name))
        for key, value in self.inline.items():
            total[key] = int(total.get(key, 0)) + value
        total.update({"backend": self.backend.spec, "model": self.backend.model,
                      "tokens_this_hour": self.limiter.tokens_this_hour, "updated": time.time()})
        self.inline = dict.fromkeys(INLINE_FIELDS, 0)
        self.ws.record_ai_usage(self.name, total)

    def finish(self, stats: RequestStats) -> None:
        if stats.finished is None:
            return  # refused before any model call: nothing was spent
        self.history.append(stats)
        del self.history[:-HISTORY]
        fields = usage_fields(stats)
        self.limiter.spent(fields["prompt_tokens"] + fields["completion_tokens"])
        log.info(
            "agent %s %s %s: %s, ttft %s ms, %s tokens/s, %d prompt + %d completion tokens%s",
            self.name, stats.kind, stats.request_id[:8], stats.outcome, fields["ttft_ms"],
            fields["tokens_per_s"], fields["prompt_tokens"], fields["completion_tokens"],
            " (estimated)" if fields["estimated"] else "",
        )
        total = self.ws.ai_usage_of(self.name)
        self.ws.record_ai_usage(
            self.name,
            {
                **total,  # the inline_* counts (flush_inline) stay
                "backend": self.backend.spec,
                "model": self.backend.model,
                # What ran where, in words ("local model NAME (Q4_K_M), on this machine").
                "description": self.backend.description,
                "local": self.backend.local,
                "requests": int(total.get("requests", 0)) + 1,
                "errors": int(total.get("errors", 0)) + (stats.outcome == "error"),
                "prompt_tokens": int(total.get("prompt_tokens", 0)) + fields["prompt_tokens"],
                "completion_tokens": int(total.get("completion_tokens", 0)) + fields["completion_tokens"],
                "tokens_this_hour": self.limiter.tokens_this_hour,
                "last_ttft_ms": fields["ttft_ms"],
                "last_tokens_per_s": fields["tokens_per_s"],
                "updated": time.time(),
            },
        )
