"""``local:<name>`` and ``local:/path/model.gguf``: llama.cpp inside the agent process (xllamacpp).

No server to run and nothing leaves the machine. xllamacpp's ``Server`` is llama.cpp's own HTTP
server without the HTTP: ``handle_chat_completions`` / ``handle_completions`` take the OpenAI
request body and call a Python callback once per streamed chunk, from the calling thread, with the
GIL released while llama.cpp works. So each call runs in a worker thread (never on the event loop)
and hands chunks to the loop through ``call_soon_threadsafe``.

Cancellation: the callback's return value tells llama.cpp whether to stop (True: the reader goes
away and the server cancels the task, as when an HTTP client disconnects). When our iterator is
closed or its task cancelled, the next callback returns True, so generation stops at the next token
instead of running on to ``max_tokens`` in the background; the iterator waits for the worker to
return before it finishes closing.

Loading a model holds the GIL (xllamacpp's constructor does not release it): it happens once, when
the backend is made, before the agent joins a room (``collab agent`` builds its backend before its
event loop starts).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib
import logging
import re
import threading
from contextlib import aclosing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncGenerator, Callable, Sequence

from collab.ai import fim
from collab.ai.backend import BackendError, BackendSpecError, ChatRequest, CompletionRequest, Delta, Usage
from collab.ai.fim import FimTemplate

log = logging.getLogger(__name__)

INSTALL_HINT = "local models need the optional llama.cpp binding: pip install 'collab[local]'"
_DONE = object()


@dataclass(frozen=True)
class LocalSettings:
    """How llama.cpp runs: the ``collab agent`` flags --threads, --ctx-size and --gpu-layers."""

    threads: int = -1  # -1: llama.cpp picks (the physical cores)
    ctx_size: int = 8192  # tokens of context shared by the parallel slots
    gpu_layers: int = -1  # -1: as many as fit when the build and the machine have a GPU; 0: CPU only
    parallel: int = 2  # requests generated at once (a chat answer and a suggestion)


def guess_fim(path: Path) -> FimTemplate | None:
    """The FIM template a GGUF's file name suggests; None (suggestions through chat) when it says nothing."""
    return fim.template_for(path.name)


@dataclass
class CallRecord:
    """What one model call did inside llama.cpp (tests and the bench read it)."""

    kind: str
    max_tokens: int
    chunks: int = 0  # text chunks llama.cpp produced, counted in its own thread
    stop_requested: bool = False  # we told llama.cpp to stop (the reader went away)
    finish_reason: str | None = None  # "length" or "stop" when llama.cpp ended it itself
    returned: threading.Event = field(default_factory=threading.Event)  # the worker thread is done


class LocalBackend:
    """A GGUF model run by llama.cpp in this process."""

    local = True

    def __init__(self, path: Path, *, name: str | None = None, quantisation: str | None = None,
                 fim_template: FimTemplate | None = None, settings: LocalSettings | None = None) -> None:
        try:
            xllamacpp = importlib.import_module("xllamacpp")  # the optional extra: collab[local]
        except ImportError:
            raise BackendSpecError(INSTALL_HINT) from None
        if not path.is_file():
            raise BackendSpecError(f"no model file at {path}")
        self.path = path
        self.settings = settings or LocalSettings()
        self.model = name or path.stem
        self.quantisation = quantisation
        # Our own FIM prompt for suggestions; inline completions (collab/ai/inline.py) pick theirs from
        # the model's name and call fill().
        self.fim_template = fim_template
        self.spec = f"local:{name or path}"
        self.description = local_description(self.model, quantisation)
        params = xllamacpp.CommonParams()
        params.model.path = str(path)
        params.n_ctx = self.settings.ctx_size
        params.n_parallel = self.settings.parallel
        # One KV cache shared by the slots: a single request may use the whole --ctx-size (split
        # per slot, 8192 with 2 slots would refuse any prompt over 4096 tokens).
        params.kv_unified = True
        params.n_gpu_layers = self.settings.gpu_layers
        params.cpuparams.n_threads = self.settings.threads
        params.cpuparams_batch.n_threads = self.settings.threads
        params.warmup = False
        params.cache_ram_mib = 0  # no prompt cache beyond the slots: memory stays what the flags say
        params.endpoint_metrics = True
        params.verbosity = 0
        try:
            self._server: Any = xllamacpp.Server(params)
        except Exception as exc:  # llama.cpp says only "Failed to init server"
            raise BackendSpecError(f"llama.cpp could not load {path.name} (not a GGUF model it can run, "
                                   f"or too big for --ctx-size {self.settings.ctx_size}): {exc}") from None
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(2, self.settings.parallel * 2),
                                                           thread_name_prefix="llama")
        self.last_call: CallRecord | None = None
        # Imported here, before the event loop runs: importing the openai SDK took 3.4 s on this
        # loaded 2-CPU machine, and the first suggestion must not stall the room's loop for it.
        from collab.ai.openai_backend import fim_as_chat

        self._as_chat = fim_as_chat

    @classmethod
    def at(cls, path: Path, settings: LocalSettings | None = None) -> "LocalBackend":
        """``local:/path/model.gguf``: the FIM template guessed from the file name."""
        return cls(path, quantisation=guess_quantisation(path), fim_template=guess_fim(path), settings=settings)

    def metrics(self) -> str:
        """llama.cpp's Prometheus text (requests processing, tokens predicted)."""
        return str(self._server.handle_metrics())

    async def aclose(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def chat(self, request: ChatRequest) -> AsyncGenerator[Delta, None]:
        body = {
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "max_tokens": request.max_tokens,
        }
        # aclosing: closing this generator must close the inner one now (that is what stops llama.cpp),
        # not whenever the garbage collector finalises it.
        async with aclosing(self._stream("chat", body, request.max_tokens, self._server.handle_chat_completions,
                                         lambda choice: (choice.get("delta") or {}).get("content"))) as stream:
            async for delta in stream:
                yield delta

    async def complete(self, request: CompletionRequest) -> AsyncGenerator[Delta, None]:
        template = self.fim_template
        if template is None:
            async with aclosing(self.chat(self._as_chat(request))) as chat:
                async for delta in chat:
                    yield delta
            return
        async with aclosing(self.fill(template.render(request.prefix, request.suffix), template.stop,
                                      request.max_tokens)) as stream:
            async for delta in stream:
                yield delta

    async def fill(self, prompt: str, stop: Sequence[str], max_tokens: int) -> AsyncGenerator[Delta, None]:
        """A raw completion of ``prompt`` (a fill-in-the-middle template already applied: collab/ai/fim.py)."""
        body = {"prompt": prompt, "max_tokens": max_tokens, "temperature": 0.2, "stop": list(stop)}
        async with aclosing(self._stream("completion", body, max_tokens, self._server.handle_completions,
                                         lambda choice: choice.get("text"))) as stream:
            async for delta in stream:
                yield delta

    async def _stream(self, kind: str, body: dict[str, Any], max_tokens: int,
                      handler: Callable[[dict[str, Any], Callable[[Any], bool]], None],
                      text_of: Callable[[dict[str, Any]], Any]) -> AsyncGenerator[Delta, None]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        record = CallRecord(kind, max_tokens)
        self.last_call = record
        stop = threading.Event()

        def put(item: object) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop is gone: nobody reads, so stop
                stop.set()

        def on_chunk(chunk: Any) -> bool:
            if stop.is_set():
                record.stop_requested = True
                return True  # llama.cpp cancels the task: no more tokens are generated
            if isinstance(chunk, dict):
                for choice in chunk.get("choices") or ():
                    if text_of(choice):
                        record.chunks += 1
                    if choice.get("finish_reason"):
                        record.finish_reason = str(choice["finish_reason"])
            put(chunk)
            return False

        def work() -> None:
            try:
                handler({**body, "stream": True, "stream_options": {"include_usage": True}}, on_chunk)
            except BaseException as exc:
                put(exc)
            finally:
                put(_DONE)
                record.returned.set()

        worker = loop.run_in_executor(self._pool, work)
        usage: Usage | None = None
        produced = 0
        try:
            while True:
                item = await queue.get()
                if item is _DONE:
                    break
                if isinstance(item, BaseException):
                    raise BackendError(f"llama.cpp failed: {type(item).__name__}") from item
                if not isinstance(item, dict):
                    continue
                if "choices" not in item and ("message" in item or "error" in item):
                    raise BackendError(f"llama.cpp refused the request: {_error_message(item)}")
                reported = item.get("usage")
                if isinstance(reported, dict):
                    usage = Usage(int(reported.get("prompt_tokens") or 0), int(reported.get("completion_tokens") or 0))
                for choice in item.get("choices") or ():
                    text = text_of(choice)
                    if text:
                        produced += 1
                        yield str(text)
        finally:
            stop.set()
            # Wait (off the loop) for llama.cpp to see the stop at its next token and return.
            await asyncio.wait({worker}, timeout=30)
        yield usage or Usage(0, produced, estimated=True)


def _error_message(item: dict[str, Any]) -> str:
    inner = item.get("error", item)
    message = inner.get("message") if isinstance(inner, dict) else inner
    return str(message or "unknown error")[:200]


def local_description(model: str, quantisation: str | None) -> str:
    """The line presence and the usage meter show: what runs, and that it runs here."""
    quant = f" ({quantisation})" if quantisation else ""
    return f"local model {model}{quant}, on this machine"


_QUANT = re.compile(r"(?<![a-z0-9])(i?q\d(?:_[a-z0-9]+)*|f16|bf16|f32)(?![a-z0-9])", re.IGNORECASE)


def guess_quantisation(path: Path) -> str | None:
    """The quantisation a GGUF's file name states (``…-q4_k_m.gguf`` gives Q4_K_M), if it states one."""
    found = _QUANT.findall(path.stem)
    return found[-1].upper() if found else None
