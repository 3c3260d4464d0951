"""The agent loop: watch a session document, call the model once per request, stream into the doc.

The agent is an ordinary participant: it reads and writes a ``pycrdt.Doc`` and publishes presence
in a ``pycrdt.Awareness``; a provider (plaintext or encrypted) keeps those in sync with the hub, so
in encrypted rooms the agent holds the key like any member and the hub sees only ciphertext.

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

Stale suggestions: from streaming until someone decides, the agent watches the anchor's line of
each suggestion it wrote (and, on start, of those it finds ready). An edit there from any
participant (the web page, a ``collab join`` folder, an API client) cancels the stream, or turns a
ready suggestion ``stale`` for everyone, so nobody accepts code written for text that is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable

import pycrdt

from collab.ai.backend import BackendError, Delta, ModelBackend, Usage
from collab.ai.context import Budget, build_chat_request, build_completion_request
from collab.ai.limits import RateLimiter, RoomLimits
from collab.ai.suggestions import (
    STALE_WHEN_READY,
    STALE_WHILE_STREAMING,
    Region,
    SuggestionError,
    Watch,
    anchor_byte_index,
    set_status,
)
from collab.workspace import Workspace, presence

log = logging.getLogger(__name__)

ORIGIN = "collab-agent"
# Root types next to the workspace schema (collab/workspace.py): room settings and AI usage.
SETTINGS = "settings"
LOCAL_MODELS_ONLY = "local_models_only"
USAGE = "ai_usage"


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


class _Cancelled(Exception):
    """Our own reason to stop a stream: stale, rejected, or another agent won the claim."""


@dataclass
class _Open:
    """A suggestion the agent watches: streaming (``stop`` cancels its model stream) or ready."""

    entry: pycrdt.Map
    watch: Watch
    stop: Callable[[str], None] | None = None


def mentions(text: str, name: str) -> bool:
    return re.search(rf"(?<![\w@])@{re.escape(name)}(?![\w-])", text, re.IGNORECASE) is not None


class Agent:
    def __init__(
        self,
        doc: pycrdt.Doc,
        awareness: pycrdt.Awareness,
        backend: ModelBackend,
        config: AgentConfig | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.doc = doc
        self.awareness = awareness
        self.backend = backend
        self.config = config or AgentConfig()
        self.ws = Workspace(doc)
        self.settings: pycrdt.Map = doc.get(SETTINGS, type=pycrdt.Map)
        self.usage: pycrdt.Map = doc.get(USAGE, type=pycrdt.Map)
        self.id = f"{self.config.name}#{doc.client_id}"
        self.limiter = RateLimiter(self.config.limits, clock)
        self.model_calls = 0  # requests sent to the backend: the room pays for exactly these
        self.history: list[RequestStats] = []
        self._clock = clock
        self._queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self._seen: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(self.config.max_concurrent)
        self._subs: list[tuple[Any, Any]] = []
        self._open: dict[str, _Open] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._worker: asyncio.Task[None] | None = None
        self._busy = 0

    # -- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._publish_presence()
        self._subs.append((self.ws.chat, self.ws.chat.observe(self._on_chat)))
        self._subs.append((self.ws.suggestions, self.ws.suggestions.observe(self._on_suggestions)))
        self._scan_backlog()
        self._worker = asyncio.create_task(self._work(), name=f"agent {self.id}")
        log.info("agent %s ready: backend %s (%s)", self.config.name, self.backend.spec, self.backend.description)

    async def stop(self) -> None:
        for target, sub in self._subs:
            target.unobserve(sub)
        self._subs.clear()
        for suggestion_id in list(self._open):
            self._unwatch(suggestion_id)
        tasks = [t for t in (self._worker, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._worker = None

    async def __aenter__(self) -> "Agent":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def idle(self) -> None:
        """Wait until every request seen so far is handled (tests and graceful shutdown use it)."""
        while not self._queue.empty() or self._tasks:
            await asyncio.sleep(0.01)

    # -- presence ----------------------------------------------------------------------------------

    def _publish_presence(self) -> None:
        state = presence(self.config.name, self.config.color)
        state["agent"] = {
            "name": self.config.name,
            "backend": self.backend.spec,
            "model": self.backend.model,
            "local": self.backend.local,
            "description": self.backend.description,
            "busy": self._busy,
        }
        self.awareness.set_local_state(state)

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

    def local_only(self) -> bool:
        return bool(self.settings.get(LOCAL_MODELS_ONLY))

    # -- events (called inside transactions: only note what happened) ------------------------------

    def _on_chat(self, event: pycrdt.ArrayEvent) -> None:
        for op in event.delta:
            for item in op.get("insert", ()) if isinstance(op, dict) else ():
                if isinstance(item, pycrdt.Map) and item.get("kind") == "human":
                    self._enqueue("chat", str(item.get("id", "")))

    def _on_suggestions(self, event: pycrdt.MapEvent) -> None:
        for key, change in event.keys.items():
            if change.get("action") == "add":
                self._enqueue("suggestion", key)
            elif change.get("action") == "delete" and key in self._open:
                self._later(self._unwatch, key)

    def _later(self, callback: Callable[[str], None], key: str) -> None:
        """Run after the current transaction: observers cannot write the document or unobserve."""
        if self._loop is not None:
            self._loop.call_soon(callback, key)

    def _enqueue(self, kind: str, key: str) -> None:
        if key and key not in self._seen:
            self._seen.add(key)
            self._queue.put_nowait((kind, key))

    def _scan_backlog(self) -> None:
        """Requests made while no agent was here: recent unanswered messages, open suggestion requests."""
        now = time.time()
        answered = {m.reply_to for m in self.ws.messages() if m.kind == "ai"}
        for item in self.ws.chat:
            if not isinstance(item, pycrdt.Map) or item.get("kind") != "human":
                continue
            mid = str(item.get("id", ""))
            recent = now - float(item.get("ts", 0.0)) <= self.config.backlog_seconds
            if recent and mid not in answered and not item.get("claimed_by"):
                self._enqueue("chat", mid)
        for key, entry in self.ws.suggestions.items():
            if isinstance(entry, pycrdt.Map) and entry.get("status") == "requested" and not entry.get("agent"):
                self._enqueue("suggestion", key)
            elif isinstance(entry, pycrdt.Map) and entry.get("status") == "ready":
                # Left ready by an agent that is gone (a restart): nobody else keeps it honest.
                with contextlib.suppress(SuggestionError):
                    ytext, byte_index = anchor_byte_index(self.ws, entry)
                    self._watch(key, entry, ytext, Region.lines_around(ytext, byte_index))

    async def _work(self) -> None:
        while True:
            kind, key = await self._queue.get()
            handler = self._answer if kind == "chat" else self._suggest
            task = asyncio.create_task(self._guarded(handler, key), name=f"agent {kind} {key}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _guarded(self, handler: Callable[[str], Any], key: str) -> None:
        async with self._slots:
            try:
                await handler(key)
            except asyncio.CancelledError:
                raise
            except Exception:  # one bad request must not stop the agent
                log.exception("agent %s: request %s failed", self.config.name, key)

    # -- chat --------------------------------------------------------------------------------------

    def _chat_entry(self, message_id: str) -> pycrdt.Map | None:
        for item in reversed(list(self.ws.chat)):
            if isinstance(item, pycrdt.Map) and item.get("id") == message_id:
                return item
        return None

    async def _answer(self, message_id: str) -> None:
        asked = self._chat_entry(message_id)
        if asked is None or asked.get("claimed_by"):
            return
        if not self.addressed(str(asked.get("text", ""))):
            return
        refusal = self._refusal()
        reply_text = pycrdt.Text(refusal or "")
        reply = pycrdt.Map(
            {
                "id": uuid.uuid4().hex,
                "author": self.config.name,
                "kind": "ai",
                "text": reply_text,
                "ts": time.time(),
                "reply_to": message_id,
                "model": self.backend.model,
                "backend": self.backend.spec,
                "status": "refused" if refusal else "streaming",
            }
        )
        with self.doc.transaction(origin=ORIGIN):
            asked["claimed_by"] = self.id
            self.ws.chat.append(reply)
        if refusal:
            log.info("agent %s refused a chat request: %s", self.config.name, refusal)
            return
        request = build_chat_request(
            self.ws, message_id, agent_name=self.config.name, states=self.awareness.states, budget=self.config.budget
        )
        stats = RequestStats("chat", message_id, self._clock())
        reason: list[str] = []
        task = asyncio.current_task()
        assert task is not None

        def on_claim(_event: object) -> None:
            if asked.get("claimed_by") != self.id and not reason:
                reason.append("another agent took this request")
                task.cancel()

        sub = asked.observe(on_claim)
        try:
            await self._stream(self.backend.chat(request), reply_text, stats)
        except asyncio.CancelledError:
            if not reason or task.cancelling() > 1:
                raise
            task.uncancel()
            stats.outcome = "superseded"
            with self.doc.transaction(origin=ORIGIN):
                self._remove_chat(reply)
        except BackendError as exc:
            stats.outcome = "error"
            with self.doc.transaction(origin=ORIGIN):
                reply_text += f"\n\n⚠ The model backend failed: {exc}"
                reply["status"] = "error"
                reply["error"] = str(exc)
        else:
            stats.outcome = "done"
            with self.doc.transaction(origin=ORIGIN):
                reply["status"] = "done"
                reply["usage"] = self._usage_fields(stats)
        finally:
            asked.unobserve(sub)
            self._finish(stats)

    def _remove_chat(self, entry: pycrdt.Map) -> None:
        target = entry.get("id")
        for index, item in enumerate(self.ws.chat):
            if isinstance(item, pycrdt.Map) and item.get("id") == target:
                del self.ws.chat[index]
                return

    def _refusal(self) -> str | None:
        if self.local_only() and not self.backend.local:
            return (f"This room is marked “local models only”, and my backend ({self.backend.spec}) is a cloud "
                    "service, so I will not send this room's text to it. Ask whoever runs me to use a local "
                    "model (ollama:<model>, an OpenAI-compatible server on your network, or builtin).")
        limited = self.limiter.refusal()
        if limited:
            return f"I am not answering right now: {limited}."
        return None

    # -- suggestions -------------------------------------------------------------------------------

    async def _suggest(self, suggestion_id: str) -> None:
        entry = self.ws.suggestions.get(suggestion_id)
        if not isinstance(entry, pycrdt.Map) or entry.get("status") != "requested" or entry.get("agent"):
            return
        if not self._elected_for_suggestions():
            return
        refusal = self._refusal()
        with self.doc.transaction(origin=ORIGIN):
            entry["agent"] = self.id
            entry["model"] = self.backend.model
            entry["backend"] = self.backend.spec
            entry["status"] = "error" if refusal else "streaming"
            if refusal:
                entry["error"] = refusal
        if refusal:
            return
        try:
            ytext, byte_index = anchor_byte_index(self.ws, entry)
        except SuggestionError as exc:
            with self.doc.transaction(origin=ORIGIN):
                entry["status"] = "error"
                entry["error"] = str(exc)
            return
        request = build_completion_request(self.ws, str(entry.get("file")), byte_index, self.config.budget)
        out_text = entry.get("text")
        if not isinstance(out_text, pycrdt.Text):
            out_text = pycrdt.Text()
            entry["text"] = out_text
        stats = RequestStats("suggestion", suggestion_id, self._clock())
        reason: list[str] = []
        task = asyncio.current_task()
        assert task is not None

        def stop(why: str) -> None:
            if not reason:
                reason.append(why)
                task.cancel()

        opened = self._watch(suggestion_id, entry, ytext, Region.lines_around(ytext, byte_index), stop)
        try:
            try:
                await self._stream(self.backend.complete(request), out_text, stats)
            finally:
                # From here on an edit or a status change no longer cancels this task: our own
                # final status write would otherwise read as one.
                opened.stop = None
        except asyncio.CancelledError:
            if not reason or task.cancelling() > 1:
                raise
            task.uncancel()
            stats.outcome = reason[0]
            if reason[0] == "stale":
                with self.doc.transaction(origin=ORIGIN):
                    set_status(entry, "stale", error=STALE_WHILE_STREAMING)
        except BackendError as exc:
            stats.outcome = "error"
            with self.doc.transaction(origin=ORIGIN):
                set_status(entry, "error", error=str(exc))
        else:
            stats.outcome = "done"
            with self.doc.transaction(origin=ORIGIN):
                if str(out_text).strip():
                    entry["status"] = "ready"
                else:
                    set_status(entry, "error", error="the model had nothing to suggest here")
                entry["usage"] = self._usage_fields(stats)
        finally:
            if entry.get("status") != "ready" or entry.get("agent") != self.id:
                self._unwatch(suggestion_id)
            self._finish(stats)

    # -- watching open suggestions -----------------------------------------------------------------

    @property
    def watching(self) -> frozenset[str]:
        """Ids of the suggestions whose region this agent watches now (streaming or ready)."""
        return frozenset(self._open)

    def _watch(
        self,
        suggestion_id: str,
        entry: pycrdt.Map,
        ytext: pycrdt.Text,
        region: Region,
        stop: Callable[[str], None] | None = None,
    ) -> _Open:
        """Watch a suggestion's region from now until it closes; ``stop`` cancels its stream meanwhile.

        The region is made from the text as it is now and follows every later edit, so nothing
        may await between reading the text and this call.
        """
        self._unwatch(suggestion_id)
        watch = Watch(
            ytext,
            region,
            entry,
            on_edit=lambda: self._watched_edit(suggestion_id),
            on_entry=lambda: self._watched_entry(suggestion_id),
        )
        opened = self._open[suggestion_id] = _Open(entry, watch, stop)
        return opened

    def _unwatch(self, suggestion_id: str) -> None:
        opened = self._open.pop(suggestion_id, None)
        if opened is not None:
            opened.watch.close()

    def _watched_edit(self, suggestion_id: str) -> None:
        """Someone (anyone: browser, ``collab join``, API client) edited inside the region."""
        opened = self._open.get(suggestion_id)
        if opened is None:
            return
        if opened.stop is not None:
            opened.stop("stale")
        else:
            self._later(self._mark_stale, suggestion_id)

    def _watched_entry(self, suggestion_id: str) -> None:
        opened = self._open.get(suggestion_id)
        if opened is None:
            return
        entry = opened.entry
        if opened.stop is not None:
            if entry.get("agent") != self.id:
                opened.stop("superseded")
            elif entry.get("status") != "streaming":
                opened.stop(str(entry.get("status")))
        elif entry.get("status") != "ready":  # accepted, rejected, or marked stale by someone
            self._later(self._unwatch, suggestion_id)

    def _mark_stale(self, suggestion_id: str) -> None:
        opened = self._open.get(suggestion_id)
        if opened is None:
            return
        # Checked now, not when the edit was seen: an accept inserts its text inside the region in
        # the same transaction as its status, and must stay accepted.
        if opened.entry.get("status") == "ready" and self.ws.suggestions.get(suggestion_id) is not None:
            with self.doc.transaction(origin=ORIGIN):
                set_status(opened.entry, "stale", error=STALE_WHEN_READY)
        self._unwatch(suggestion_id)

    # -- streaming and measuring -------------------------------------------------------------------

    async def _stream(self, stream: AsyncIterator[Delta], target: pycrdt.Text, stats: RequestStats) -> None:
        """Append each delta to ``target`` as its own transaction, so everyone sees it as it arrives.

        Closing the iterator on every exit (cancel, timeout, error) is what closes the HTTP request.
        """
        self.model_calls += 1
        self._busy += 1
        self._publish_presence()
        iterator = aiter(stream)
        try:
            while True:
                wait = self.config.first_token_timeout if stats.first_token is None else self.config.idle_timeout
                try:
                    async with asyncio.timeout(wait):
                        delta = await anext(iterator)
                except StopAsyncIteration:
                    break
                except TimeoutError:
                    what = "no first token" if stats.first_token is None else "the stream stalled"
                    raise BackendError(f"{what}: the model sent nothing for {wait:g} s") from None
                if isinstance(delta, Usage):
                    stats.usage = delta
                    continue
                if stats.first_token is None:
                    stats.first_token = self._clock()
                stats.chunks += 1
                with self.doc.transaction(origin=ORIGIN):
                    target += delta
        finally:
            stats.finished = self._clock()
            with contextlib.suppress(Exception):
                await iterator.aclose()  # type: ignore[attr-defined]
            self._busy -= 1
            self._publish_presence()

    def _usage_fields(self, stats: RequestStats) -> dict[str, Any]:
        usage = stats.usage or Usage(0, stats.chunks, estimated=True)
        return {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "estimated": usage.estimated,
            "ttft_ms": None if stats.ttft is None else round(stats.ttft * 1000, 1),
            "tokens_per_s": None if stats.tokens_per_s is None else round(stats.tokens_per_s, 1),
        }

    def _finish(self, stats: RequestStats) -> None:
        if stats.finished is None:
            return  # refused before any model call: nothing was spent
        self.history.append(stats)
        del self.history[:-100]
        fields = self._usage_fields(stats)
        spent = fields["prompt_tokens"] + fields["completion_tokens"]
        self.limiter.spent(spent)
        # Logged without any text of the room: prompts and answers may be secret (encrypted rooms).
        log.info(
            "agent %s %s %s: %s, ttft %s ms, %s tokens/s, %d prompt + %d completion tokens%s",
            self.config.name, stats.kind, stats.request_id[:8], stats.outcome, fields["ttft_ms"],
            fields["tokens_per_s"], fields["prompt_tokens"], fields["completion_tokens"],
            " (estimated)" if fields["estimated"] else "",
        )
        with self.doc.transaction(origin=ORIGIN):
            previous = self.usage.get(self.config.name)
            total = dict(previous) if isinstance(previous, dict) else {}
            self.usage[self.config.name] = {
                "backend": self.backend.spec,
                "model": self.backend.model,
                "requests": int(total.get("requests", 0)) + 1,
                "errors": int(total.get("errors", 0)) + (stats.outcome == "error"),
                "prompt_tokens": int(total.get("prompt_tokens", 0)) + fields["prompt_tokens"],
                "completion_tokens": int(total.get("completion_tokens", 0)) + fields["completion_tokens"],
                "tokens_this_hour": self.limiter.tokens_this_hour,
                "last_ttft_ms": fields["ttft_ms"],
                "last_tokens_per_s": fields["tokens_per_s"],
                "updated": time.time(),
            }
