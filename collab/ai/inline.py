"""Inline completions, the agent's side: peers' requests in presence in, replies as direct messages out.

Nothing here touches the shared document except reading files (and, every few seconds, the usage
counters): requests are presence and replies direct messages (collab/ai/inline_client.py has the
field layout, docs/protocol.md the protocol), so they are never stored and, in encrypted rooms,
sealed.

One model call per request. The client debounces and keeps its request while what the typist types
matches the completion; here a request is served as soon as it is seen and the file reads as the
typist saw it, and cancelled (its task cancelled, which closes the backend's iterator and with it
the HTTP stream) the moment the request changes or disappears from the typist's presence.

Each reply goes to its typist alone, the whole text so far each time (``{"inline_reply": {...}}``).
The hub paces each (agent, typist) pair at ``--presence-updates-per-second`` (10 by default) and
keeps only the latest waiting, so each typist's stream is paced here the same way, on its own:
the first characters (and an end with no text) go at once, since what a typist waits for most is
the first ghost character; after that at most one message every 1/rate s, the latest text, and
the final one always. Typists no longer share a budget: with one presence state for every reply
the tenth of ten typists pausing together waited ~200 ms p99 for its first character
(bench/inline/README.md).
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
from collab.ai.inline_client import REPLY, ROOM_SETTING, InlineAsk, read_ask
from collab.ai.limits import RateLimiter
from collab.ai.stream import text_deltas
from collab.ai.usage import INLINE_FLUSH_S, RequestStats, UsageLedger
from collab.workspace import Workspace, WorkspaceError

log = logging.getLogger("collab.ai.agent")

MAX_REPLY_CHARS = 2000  # a reply is re-sent whole on every update: keep each message small


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
    updates_per_second: float = 10.0  # the hub's --presence-updates-per-second: its pace per (agent, typist)
    max_open: int = 32  # requests served at once; more wait


class ReplyStream:
    """One typist's replies: the latest, sent at once when it is the first text (or an empty end),
    then at most every ``gap`` s, whichever is latest when the gap is over."""

    def __init__(self, client: int, gap: float, send: Callable[[int, dict[str, Any]], None],
                 clock: Callable[[], float]) -> None:
        self.client = client
        self.gap = gap
        self._send = send
        self._clock = clock
        self.reply: dict[str, Any] | None = None  # the latest reply, sent or waiting
        self._waiting = False  # ``reply`` is not sent yet
        self._shown = False  # text of the current request has gone out
        self._last = -float("inf")  # when the last message went
        self._timer: asyncio.TimerHandle | None = None

    def put(self, reply: dict[str, Any]) -> bool:
        """Queue ``reply`` (the latest of its request); True when it went out now."""
        if self.reply is None or self.reply["id"] != reply["id"]:
            self._shown = False
        self.reply, self._waiting = reply, True
        first = (bool(reply["text"]) and not self._shown) or (reply["done"] and not reply["text"])
        now = self._clock()
        if first or now - self._last >= self.gap:
            self._flush(now)
            return True
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.gap - (now - self._last), self._due)
        return False

    def drop(self) -> None:
        """The request was withdrawn: nothing more of it goes out."""
        self.reply, self._waiting = None, False
        self._cancel_timer()

    def _due(self) -> None:
        self._timer = None
        self._flush(self._clock())

    def _flush(self, now: float) -> None:
        self._cancel_timer()
        if not self._waiting or self.reply is None:
            return
        self._waiting = False
        self._last = now
        self._shown = self._shown or bool(self.reply["text"])
        self._send(self.client, {REPLY: self.reply})

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    @property
    def idle(self) -> bool:
        return not self._waiting and self._clock() - self._last >= self.gap


class InlineCompleter:
    def __init__(
        self,
        ws: Workspace,
        awareness: pycrdt.Awareness,
        backend: ModelBackend,
        ledger: UsageLedger,
        limiter: RateLimiter,
        *,
        send: Callable[[int, dict[str, Any]], None],
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
        self._streams: dict[int, ReplyStream] = {}  # by the typist's client id
        self._tasks: dict[int, tuple[str, asyncio.Task[None]]] = {}  # typist -> (request id, its task)
        self._slots = asyncio.Semaphore(self.config.max_open)
        self._send_direct = send
        rate = self.config.updates_per_second
        self._gap = 1.0 / rate if rate > 0 else 0.0
        # Where a request's time goes, for bench/inline (the debug log only, never the text): when it
        # was seen, its prompt ready, its first token in, and that first text sent to the typist.
        self._timing: dict[str, dict[str, float]] = {}
        self._subs: list[Any] = []
        self._changed = asyncio.Event()
        self._flush_timer: asyncio.TimerHandle | None = None
        self.model_calls = 0
        self.served = 0
        self.cancelled = 0

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
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
        for stream in self._streams.values():
            stream.drop()
        self._streams.clear()
        if self._flush_timer is not None:
            self._flush_timer.cancel()
        self.ledger.flush_inline()

    @property
    def replies(self) -> dict[int, dict[str, Any]]:
        """The latest reply to each typist with a request (sent, or waiting for its pace)."""
        return {client: s.reply for client, s in self._streams.items() if s.reply is not None}

    def _send(self, client: int, message: dict[str, Any]) -> None:
        self._send_direct(client, message)
        stamps = self._timing.get(message[REPLY]["id"]) if self._timing else None
        if stamps is not None and "answered" in stamps:
            request_id = message[REPLY]["id"]
            del self._timing[request_id]
            log.debug("agent %s inline %s stages: seen %.6f ready %.6f token %.6f published %.6f",
                      self.ledger.name, request_id[:8], stamps["seen"], stamps.get("ready", 0.0),
                      stamps.get("token", 0.0), self._clock())

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
        state = self.awareness.states.get(client)
        ask = read_ask(client, state)
        running = self._tasks.get(client)
        if running is not None and ask is not None and running[0] == ask.id:
            return  # the same request: keep streaming (the typist's text may have moved on, matching it)
        if running is not None:
            self._tasks.pop(client)
            running[1].cancel()
        stream = self._streams.get(client)
        served = stream is not None and stream.reply is not None and ask is not None and stream.reply["id"] == ask.id
        if stream is not None and not served:
            stream.drop()  # withdrawn: the typist shows a reply only to its current request anyway
            if state is None:
                del self._streams[client]  # it left
        if ask is not None and self.config.enabled and not served and self._elected():
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

    def _answer(self, ask: InlineAsk, text: str, *, done: bool, error: str | None = None) -> None:
        reply: dict[str, Any] = {"id": ask.id, "text": text[:MAX_REPLY_CHARS], "done": done, "model": self.backend.model}
        if error:
            reply["error"] = error
        stream = self._streams.get(ask.client)
        if stream is None:
            stream = self._streams[ask.client] = ReplyStream(ask.client, self._gap, self._send, self._clock)
            self._prune()
        # The first characters are what a typist waits for (the stream sends them at once).
        if text and (stream.reply is None or stream.reply["id"] != ask.id or not stream.reply["text"]):
            self._stamp(ask.id, "answered")
        stream.put(reply)

    def _prune(self) -> None:
        """Forget the streams of typists no longer present, with nothing waiting (bounded by presence)."""
        states = self.awareness.states
        for client in [c for c, s in self._streams.items() if c not in states and s.idle]:
            del self._streams[client]

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
