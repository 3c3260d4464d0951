"""Inline completions, the agent's side: peers' requests in presence in, addressed streaming replies out.

Nothing here touches the shared document except reading files (and, every few seconds, the usage
counters): requests and replies are presence (collab/ai/inline_client.py has the field layout,
docs/protocol.md the protocol), so they are never stored and, in encrypted rooms, sealed.

One model call per request. The client debounces and keeps its request while what the typist types
matches the completion; here a request is served as soon as it is seen and the file reads as the
typist saw it, and cancelled (its task cancelled, which closes the backend's iterator and with it
the HTTP stream) the moment the request changes or disappears from the typist's presence.

Replies share one presence state (ours), and the hub relays at most ``--presence-updates-per-second``
of a connection's states (10 by default; the rest is coalesced). So updates are paced here by a
token bucket a little slower than the hub's, and the first characters of a reply may spend tokens
the ongoing streams leave in reserve: what a typist waits for most is the first ghost character. So
one agent starts at most ~9 completions a second without delay (the hub's default rate); more
typists pausing at once wait up to 1/rate for their first character (docs/protocol.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from functools import partial
from typing import Any, AsyncIterator, Callable

import pycrdt

from collab.ai import fim
from collab.ai.backend import BackendError, CompletionRequest, Delta, Document, ModelBackend, estimate_tokens
from collab.ai.context import clip
from collab.ai.inline_client import ROOM_SETTING, InlineAsk, read_ask
from collab.ai.limits import RateLimiter
from collab.ai.stream import text_deltas
from collab.ai.usage import INLINE_FLUSH_S, RequestStats, UsageLedger
from collab.workspace import Workspace, WorkspaceError

log = logging.getLogger("collab.ai.agent")

MAX_REPLY_CHARS = 2000  # a reply in presence: ten typists' replies stay far below the 64 KiB state limit
RESERVE = 3.0  # tokens of the pacer kept for first characters and ends
MIN_GAP_S = 0.04  # ongoing text goes out at most every 40 ms


@dataclass(frozen=True)
class InlineConfig:
    enabled: bool = True
    fim_template: str = "auto"  # a name of fim.TEMPLATES, "chat" or "auto" (from the model name)
    context_tokens: int = 1500  # prefix 60 %, suffix 15 %, snippets of other files the rest
    max_tokens: int = 64
    max_chars: int = 400
    max_lines: int = 8
    first_token_timeout: float = 15.0
    idle_timeout: float = 10.0
    sync_wait: float = 2.0  # seconds to wait for the typist's text to reach our copy of the file
    updates_per_second: float = 10.0  # the hub's --presence-updates-per-second
    max_open: int = 32  # requests served at once; more wait


class ReplyPacer:
    """Our presence updates, at most ~90 % of the hub's relay rate, first characters first."""

    def __init__(self, rate: float, flush: Callable[[], None], clock: Callable[[], float]) -> None:
        self.rate = rate * 0.9
        self.capacity = max(1.0, rate)
        self.tokens = self.capacity
        self._flush = flush
        self._clock = clock
        self._then = clock()
        self._last = 0.0
        self._timer: asyncio.TimerHandle | None = None

    def _refill(self) -> float:
        now = self._clock()
        self.tokens = min(self.capacity, self.tokens + (now - self._then) * self.rate)
        self._then = now
        return now

    def want(self, urgent: bool) -> None:
        if self.rate <= 0:
            self._flush()
            return
        now = self._refill()
        need = 1.0 if urgent else 1.0 + RESERVE
        if self.tokens >= need and (urgent or now - self._last >= MIN_GAP_S):
            self._send(now)
        elif self._timer is None:
            wait = max((need - self.tokens) / self.rate, MIN_GAP_S - (now - self._last))
            self._timer = asyncio.get_running_loop().call_later(max(0.0, wait), self._due)

    def _due(self) -> None:
        self._timer = None
        now = self._refill()
        if self.tokens >= 1.0:
            self._send(now)
        else:
            self._timer = asyncio.get_running_loop().call_later((1.0 - self.tokens) / self.rate, self._due)

    def _send(self, now: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.tokens -= 1.0
        self._last = now
        self._flush()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class InlineCompleter:
    def __init__(
        self,
        ws: Workspace,
        awareness: pycrdt.Awareness,
        backend: ModelBackend,
        ledger: UsageLedger,
        limiter: RateLimiter,
        *,
        publish: Callable[[], None],
        elected: Callable[[], bool],
        config: InlineConfig | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ws = ws
        self.awareness = awareness
        self.backend = backend
        self.ledger = ledger
        self.limiter = limiter
        self.config = config or InlineConfig()
        self._elected = elected
        self._clock = clock
        self.template = fim.template_for(backend.model, self.config.fim_template)
        self.replies: dict[int, dict[str, Any]] = {}  # by the typist's client id, as published
        self._tasks: dict[int, tuple[str, asyncio.Task[None]]] = {}  # typist -> (request id, its task)
        self._slots = asyncio.Semaphore(self.config.max_open)
        self._pacer: ReplyPacer | None = None
        self._publish_state = publish
        # Where a request's time goes, for bench/inline (the debug log only, never the text): when it
        # was seen, its prompt ready, its first token in, and that first text published.
        self._timing: dict[str, dict[str, float]] = {}
        self._subs: list[Any] = []
        self._changed = asyncio.Event()
        self._flush_timer: asyncio.TimerHandle | None = None
        self.model_calls = 0
        self.served = 0
        self.cancelled = 0

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        self._pacer = ReplyPacer(self.config.updates_per_second, self._publish, self._clock)
        self._subs.append(self.awareness.observe(self._on_presence))
        self._doc_sub = self.ws.doc.observe(lambda _event: self._doc_changed())
        for client in list(self.awareness.states):
            self._sync(client)

    async def stop(self) -> None:
        for sub in self._subs:
            self.awareness.unobserve(sub)
        self._subs.clear()
        with contextlib.suppress(Exception):
            self.ws.doc.unobserve(self._doc_sub)
        tasks = [task for _, task in self._tasks.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        if self._pacer is not None:
            self._pacer.close()
        if self._flush_timer is not None:
            self._flush_timer.cancel()
        self.ledger.flush_inline()

    def _publish(self) -> None:
        self._publish_state()
        if not self._timing or not log.isEnabledFor(logging.DEBUG):
            self._timing.clear()
            return
        now = self._clock()
        for request_id, stamps in list(self._timing.items()):
            if "answered" in stamps:
                del self._timing[request_id]
                log.debug("agent %s inline %s stages: seen %.6f ready %.6f token %.6f published %.6f",
                          self.ledger.name, request_id[:8], stamps["seen"], stamps.get("ready", 0.0),
                          stamps.get("token", 0.0), now)

    def _stamp(self, request_id: str, stage: str) -> None:
        stamps = self._timing.get(request_id)
        if stamps is not None and stage not in stamps:
            stamps[stage] = self._clock()

    @property
    def busy(self) -> int:
        return len(self._tasks)

    # -- requests in, replies out ------------------------------------------------------------------

    def _on_presence(self, topic: str, change: tuple[dict[str, list[int]], Any]) -> None:
        changes, origin = change
        if topic != "change" or origin == "local":
            return
        for key in ("added", "updated", "removed"):
            for client in changes.get(key, ()):
                self._sync(client)

    def _doc_changed(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _sync(self, client: int) -> None:
        """Make what we do for ``client`` match its presence: serve a new request, drop a withdrawn one."""
        if client == self.awareness.client_id:
            return
        ask = read_ask(client, self.awareness.states.get(client))
        running = self._tasks.get(client)
        if running is not None and ask is not None and running[0] == ask.id:
            return  # the same request: keep streaming (the typist's text may have moved on, matching it)
        if running is not None:
            self._tasks.pop(client)
            running[1].cancel()
        reply = self.replies.get(client)
        if reply is not None and (ask is None or reply["id"] != ask.id):
            del self.replies[client]
            self._want(urgent=False)  # nobody waits for a withdrawn reply to go
        if ask is not None and self.config.enabled and (client not in self.replies) and self._elected():
            if log.isEnabledFor(logging.DEBUG):
                self._timing[ask.id] = {"seen": self._clock()}
                del_old = [k for k in self._timing if k != ask.id][:-64]  # withdrawn before any text
                for k in del_old:
                    del self._timing[k]
            task = asyncio.get_running_loop().create_task(self._serve(ask), name=f"inline {ask.id}")
            self._tasks[client] = (ask.id, task)
            task.add_done_callback(partial(self._ended, client, ask.id))

    def _ended(self, client: int, request_id: str, task: asyncio.Task[None]) -> None:
        if self._tasks.get(client, ("", None))[1] is task:
            del self._tasks[client]
        if not task.cancelled() and task.exception() is not None:
            log.error("agent %s: inline request %s failed: %s", self.ledger.name, request_id[:8],
                      type(task.exception()).__name__)

    def _want(self, urgent: bool) -> None:
        if self._pacer is not None:
            self._pacer.want(urgent)

    def _answer(self, ask: InlineAsk, text: str, *, done: bool, error: str | None = None) -> None:
        reply: dict[str, Any] = {"id": ask.id, "text": text[:MAX_REPLY_CHARS], "done": done, "model": self.backend.model}
        if error:
            reply["error"] = error
        # The first characters are what a typist waits for; an end with no text (a refusal) too.
        first = ask.client not in self.replies or (not self.replies[ask.client]["text"] and bool(text))
        self.replies[ask.client] = reply
        if text and first:
            self._stamp(ask.id, "answered")
        self._want(urgent=first or (done and not text))

    # -- serving one request -----------------------------------------------------------------------

    async def _serve(self, ask: InlineAsk) -> None:
        refusal = self._refusal()
        if refusal:
            self._answer(ask, "", done=True, error=refusal)
            return
        request = await self._prepare(ask)
        self._stamp(ask.id, "ready")
        if request is None:
            self._answer(ask, "", done=True, error="the file changed before the completion could start")
            return
        if self.limiter.refusal() is not None:
            self._answer(ask, "", done=True, error="inline completions are rate limited in this room; try again soon")
            return
        async with self._slots:
            self.served += 1
            await self._stream(ask, request)

    def _refusal(self) -> str | None:
        if self.ws.settings.get(ROOM_SETTING) is False:
            return "inline completions are off in this room"
        if self.ws.local_models_only() and not self.backend.local:
            return "this room is marked local models only"
        return None

    async def _prepare(self, ask: InlineAsk) -> CompletionRequest | None:
        """The request once our copy of the file reads as the typist's did (presence may overtake updates)."""
        deadline = self._clock() + self.config.sync_wait
        while True:
            changed = self._changed
            try:
                text = self.ws.read(ask.file)
            except WorkspaceError:
                text = None
            if text is not None and ask.matches(text):
                return self._request(ask, text)
            left = deadline - self._clock()
            if left <= 0:
                return None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    await changed.wait()

    def _request(self, ask: InlineAsk, text: str) -> CompletionRequest:
        raw = text.encode("utf-16-le", errors="surrogatepass")
        prefix = raw[: ask.at * 2].decode("utf-16-le", errors="ignore")
        suffix = raw[ask.at * 2 :].decode("utf-16-le", errors="ignore")
        total = self.config.context_tokens
        prefix = clip(prefix, total * 60 // 100, keep="end")
        suffix = clip(suffix, total * 15 // 100)
        left = total - estimate_tokens(prefix) - estimate_tokens(suffix)
        files = self.ws.snapshot()
        if self.backend.spec == "builtin":
            # The n-gram completer learns from the room's text itself: give it the files, not snippets.
            docs = [Document(p, clip(t, max(left, 2000))) for p, t in files.items() if p != ask.file]
        else:
            near = "\n".join(prefix.split("\n")[-12:]) + "\n" + "\n".join(suffix.split("\n")[:4])
            docs = fim.snippets(files, ask.file, near, left)
        return CompletionRequest(ask.file, prefix, suffix, tuple(docs), self.config.max_tokens)

    def _model_stream(self, request: CompletionRequest) -> AsyncIterator[Delta]:
        template = self.template
        fill = getattr(self.backend, "fill", None)
        if template is not None and fill is not None and not getattr(self.backend, "fim", False):
            prefix = fim.as_comments(request.path, list(request.documents)) + request.prefix
            stream: AsyncIterator[Delta] = fill(template.render(prefix, request.suffix), template.stop, request.max_tokens)
            return stream
        return self.backend.complete(request)

    async def _stream(self, ask: InlineAsk, request: CompletionRequest) -> None:
        stats = RequestStats("inline", ask.id, self._clock())
        one_line = fim.single_line(request.prefix, request.suffix)
        stops = self.template.stop if self.template is not None else ()
        raw = ""
        text = ""
        self.model_calls += 1
        deltas = text_deltas(
            self._model_stream(request),
            stats,
            first_token_timeout=self.config.first_token_timeout,
            idle_timeout=self.config.idle_timeout,
            clock=self._clock,
        )
        try:
            async with contextlib.aclosing(deltas):
                async for delta in deltas:
                    self._stamp(ask.id, "token")
                    raw += delta
                    text, stopped = fim.strip_stops(raw, stops)
                    text, over = fim.cut(text, one_line=one_line, max_chars=self.config.max_chars,
                                         max_lines=self.config.max_lines)
                    if over or stopped:
                        break  # closing the stream below stops the model: what comes next is not shown
                    self._answer(ask, text, done=False)
            stats.outcome = "done"
            self._answer(ask, text.rstrip() if not one_line else text, done=True)
        except asyncio.CancelledError:
            stats.outcome = "cancelled"
            self.cancelled += 1
            raise
        except BackendError as exc:
            stats.outcome = "error"
            self._answer(ask, text, done=True, error=str(exc)[:200])
        finally:
            self.ledger.finish_inline(stats)
            self._schedule_flush()

    def _schedule_flush(self) -> None:
        if self._flush_timer is None:
            def flush() -> None:
                self._flush_timer = None
                self.ledger.flush_inline()

            self._flush_timer = asyncio.get_running_loop().call_later(INLINE_FLUSH_S, flush)
