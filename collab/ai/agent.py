"""The agent: an ordinary participant that answers requests in a session document with one model.

The agent reads and writes a ``pycrdt.Doc`` and publishes presence in a ``pycrdt.Awareness``; a
provider (plaintext or encrypted) keeps those in sync with the hub, so in encrypted rooms the agent
holds the key like any member and the hub sees only ciphertext.

Turn-taking: it answers chat messages that mention ``@<its name>`` or ``@ai``, and suggestion
entries created with status ``requested``. Nothing else makes it speak.

One model call per request, however many people watch: only the agent calls the model, and it
streams into shared Y.Texts that every client renders. With several agents in a room, two rules
keep answers single: (1) election: of the agents present in awareness that a request addresses,
only the one with the lowest Yjs client id takes it; (2) claims: taking a request writes
``claimed_by`` on the chat message (``agent`` on a suggestion) in the same transaction as the
reply. Concurrent Y.Map writes converge to one value on every peer, so if two agents raced past
the election (awareness not yet synced), both see the same winner and the loser cancels its model
stream and removes its partial reply.

The parts: collab/ai/watcher.py notices requests, collab/ai/requests.py and collab/ai/runner.py
answer them, collab/ai/open_suggestions.py turns suggestions stale when their code is edited, and
collab/ai/usage.py accounts for every model call. Inline completions (collab/ai/inline.py) travel
outside the document: requests in typists' presence, each reply a direct message to its typist
alone (collab/client/direct.py), sent through the ``send_direct`` of the provider that syncs our
doc and awareness (``send_direct=session.provider.send_direct``). Without it, the agent does not offer
inline completions.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import traceback
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import pycrdt

from collab.ai.backend import ModelBackend
from collab.ai.context import Budget
from collab.ai.inline import InlineCompleter, InlineConfig
from collab.ai.limits import RateLimiter, RoomLimits
from collab.ai.open_suggestions import OpenSuggestions
from collab.ai.requests import ChatAnswer, Request, Seat, SuggestionAnswer
from collab.ai.runner import RequestRunner
from collab.ai.usage import RequestStats, UsageLedger
from collab.ai.watcher import RequestWatcher
from collab.crypto.redact import Redactor
from collab.workspace import Workspace, presence

log = logging.getLogger(__name__)

ORIGIN = "collab-agent"  # the transaction origin of every write the agent makes


@dataclass(frozen=True)
class AgentConfig:
    name: str = "ai"
    color: str = "#7c3aed"
    budget: Budget = field(default_factory=Budget)
    limits: RoomLimits = field(default_factory=RoomLimits)
    first_token_timeout: float = 60.0  # seconds from request to first token before we call it dead
    idle_timeout: float = 30.0  # seconds between tokens before we call the stream dead
    backlog_seconds: float = 120.0  # on start, answer unanswered requests at most this old
    max_concurrent: int = 4
    inline: InlineConfig = field(default_factory=InlineConfig)


def mentions(text: str, name: str) -> bool:
    return re.search(rf"(?<![\w@])@{re.escape(name)}(?![\w-])", text, re.IGNORECASE) is not None


class Agent:
    def __init__(
        self,
        doc: pycrdt.Doc[Any],
        awareness: pycrdt.Awareness,
        backend: ModelBackend,
        config: AgentConfig | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        redactor: Redactor | None = None,
        send_direct: Callable[[int, dict[str, Any]], None] | None = None,
    ) -> None:
        self.doc = doc
        self.awareness = awareness
        self.backend = backend
        self.config = config or AgentConfig()
        # Inline replies are direct messages: without a provider's channel there is no way to answer.
        self._direct = send_direct
        if send_direct is None and self.config.inline.enabled:
            log.info("agent %s: no direct messages for this awareness: inline completions off", self.config.name)
            self.config = replace(self.config, inline=replace(self.config.inline, enabled=False))
        self.ws = Workspace(doc, origin=ORIGIN)
        # Secrets the agent knows of (its token, the room's link secrets) plus credential shapes:
        # none of them may reach the room's chat or the logs through an error's text.
        self.redact = redactor or Redactor()
        self.id = f"{self.config.name}#{doc.client_id}"
        self.limiter = RateLimiter(self.config.limits, clock)
        self.ledger = UsageLedger(self.ws, self.config.name, backend, self.limiter)
        self.open_suggestions = OpenSuggestions(self.ws, self.id, self._later)
        self.watcher = RequestWatcher(self.ws, self.open_suggestions, self.config.backlog_seconds)
        self.runner = RequestRunner(
            self.ws,
            self.ledger,
            refusal=self._refusal,
            redact=self.redact,
            on_busy=self._publish_presence,
            first_token_timeout=self.config.first_token_timeout,
            idle_timeout=self.config.idle_timeout,
            clock=clock,
        )
        self.inline = InlineCompleter(
            self.ws,
            awareness,
            backend,
            self.ledger,
            self.limiter.sharing_tokens(self.config.limits.inline_per_minute),
            send=self._send_direct,
            elected=self._elected_for_inline,
            config=self.config.inline,
            clock=clock,
        )
        self._seat = Seat(self.ws, self.id, self.config.name, backend, self.config.budget)
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(self.config.max_concurrent)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._worker: asyncio.Task[None] | None = None

    # -- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._publish_presence()
        self.watcher.start()
        self.inline.start()
        self._worker = asyncio.create_task(self._work(), name=f"agent {self.id}")
        log.info("agent %s ready: backend %s (%s)", self.config.name, self.backend.spec, self.backend.description)

    async def stop(self) -> None:
        self.watcher.stop()
        self.open_suggestions.close()
        await self.inline.stop()
        tasks = [t for t in (self._worker, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._worker = None
        self.ws.close()  # its file table observes the document, which may outlive the agent

    async def __aenter__(self) -> "Agent":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def idle(self) -> None:
        """Wait until every request seen so far is handled (tests and graceful shutdown use it)."""
        while not self.watcher.queue.empty() or self._tasks:
            await asyncio.sleep(0.01)

    @property
    def model_calls(self) -> int:
        """Requests sent to the backend: the room pays for exactly these."""
        return self.runner.model_calls

    @property
    def history(self) -> list[RequestStats]:
        return self.ledger.history

    @property
    def watching(self) -> frozenset[str]:
        """Ids of the suggestions whose region this agent watches now (streaming or ready)."""
        return self.open_suggestions.ids

    # -- presence and election ---------------------------------------------------------------------

    def _publish_presence(self) -> None:
        state = presence(self.config.name, self.config.color)
        state["agent"] = {
            "name": self.config.name,
            "backend": self.backend.spec,
            "model": self.backend.model,
            "local": self.backend.local,
            "description": self.backend.description,
            "busy": self.runner.busy,
            "inline": self.config.inline.enabled,
            # What the page may offer before anyone clicks (web/src/ui/assistant.ts): a backend
            # that cannot answer questions (builtin) says so, and Explain/Fix/Ask are explained.
            "answers": getattr(self.backend, "answers_questions", True),
        }
        self.awareness.set_local_state(state)

    def _send_direct(self, peer: int, message: dict[str, Any]) -> None:
        if self._direct is not None:
            self._direct(peer, message)

    def _agents_present(self) -> dict[int, str]:
        out: dict[int, str] = {}
        for client, state in self.awareness.states.items():
            agent = state.get("agent") if isinstance(state, dict) else None
            if isinstance(agent, dict):
                out[client] = str(agent.get("name", ""))
        out[self.doc.client_id] = self.config.name
        return out

    def addressed(self, text: str) -> bool:
        """Is this message for me? Mentions of my name or @ai, and I am the elected one among those it names."""
        agents = self._agents_present()
        candidates = {c for c, name in agents.items() if mentions(text, name)}
        if mentions(text, "ai"):
            candidates |= set(agents)
        return bool(candidates) and min(candidates) == self.doc.client_id

    def _elected_for_suggestions(self) -> bool:
        return min(self._agents_present()) == self.doc.client_id

    def _elected_for_inline(self) -> bool:
        """Of the agents that complete inline, the one with the lowest Yjs client id answers."""
        ids = [c for c, s in self.awareness.states.items()
               if isinstance(s, dict) and isinstance(s.get("agent"), dict) and s["agent"].get("inline")]
        return min([*ids, self.doc.client_id]) == self.doc.client_id

    def local_only(self) -> bool:
        return self.ws.local_models_only()

    def _refusal(self) -> str | None:
        if self.local_only() and not self.backend.local:
            return (f"This room is marked “local models only”, and my backend ({self.backend.spec}) is a cloud "
                    "service, so I will not send this room's text to it. Ask whoever runs me to use a local "
                    "model (ollama:<model>, an OpenAI-compatible server on your network, or builtin).")
        limited = self.limiter.refusal()
        if limited:
            return f"I am not answering right now: {limited}."
        return None

    # -- dispatch ----------------------------------------------------------------------------------

    def _later(self, callback: Callable[[str], None], key: str) -> None:
        """Run after the current transaction: observers cannot write the document or unobserve."""
        if self._loop is not None:
            self._loop.call_soon(callback, key)

    async def _work(self) -> None:
        while True:
            kind, key = await self.watcher.queue.get()
            request: Request
            if kind == "chat":
                request = ChatAnswer(self._seat, key, self.addressed, lambda: self.awareness.states)
            else:
                request = SuggestionAnswer(self._seat, key, self._elected_for_suggestions, self.open_suggestions)
            task = asyncio.create_task(self._guarded(request), name=f"agent {kind} {key}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _guarded(self, request: Request) -> None:
        async with self._slots:
            try:
                await self.runner.run(request)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # one bad request must not stop the agent
                trace = self.redact("".join(traceback.format_exception(exc)).rstrip())
                log.error("agent %s: request %s failed\n%s", self.config.name, request.key, trace)
