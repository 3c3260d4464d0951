"""OpenAI, and every server that speaks its HTTP API (Ollama's /v1, vLLM, llama.cpp server, LM Studio).

The official ``openai`` SDK does the HTTP and SSE work. We add: one request per call (no silent
retries, so the room pays once and errors show), fill-in-the-middle through the completions
endpoint's ``suffix`` where the server supports it, and errors reduced to one safe line.
"""

from __future__ import annotations

import ipaddress
import os
from typing import Any, AsyncIterator, Iterable, Sequence, TypedDict
from urllib.parse import urlsplit

import httpx
import openai
from openai import AsyncOpenAI

from collab.ai.backend import (
    BackendError,
    BackendSpecError,
    ChatMessage,
    ChatRequest,
    CompletionRequest,
    Delta,
    Usage,
    estimate_tokens,
)
from collab.crypto.redact import redact

OPENAI_URL = "https://api.openai.com/v1"
OLLAMA_URL = "http://127.0.0.1:11434/v1"

FIM_SYSTEM = (
    "You are a code completion engine inside a shared editor. The user sends a file with the marker "
    "<CURSOR>. Reply with only the text to insert at the marker: no explanation, no code fences, "
    "nothing that repeats the text around the marker."
)

class _TokenLimit(TypedDict, total=False):
    max_tokens: int
    max_completion_tokens: int


class OpenAIBackend:
    """A model behind an OpenAI-compatible HTTP API."""

    def __init__(
        self,
        client: AsyncOpenAI,
        model: str,
        *,
        spec: str,
        local: bool | None = None,
        fim: bool = False,
    ) -> None:
        self._client = client
        # The key in use, whatever its shape: servers echo it in errors, and errors go to the room.
        self._secrets = (client.api_key,)
        self.model = model
        self.spec = spec
        self.base_url = str(client.base_url).rstrip("/")
        self.local = is_local_url(self.base_url) if local is None else local
        self.fim = fim
        where = "on this network" if self.local else "a cloud service"
        self.description = f"{model} via the OpenAI API at {_host(self.base_url)} ({where})"

    @classmethod
    def openai(cls, model: str, *, base_url: str | None = None, api_key: str | None = None,
               fim: bool | None = None, timeout: float = 60.0) -> "OpenAIBackend":
        """``openai:<model>``: OPENAI_API_KEY and OPENAI_BASE_URL are honoured, so any compatible server works."""
        base_url = checked_base_url(base_url or os.environ.get("OPENAI_BASE_URL") or OPENAI_URL, "OPENAI_BASE_URL")
        api_key = api_key or os.environ.get("OPENAI_API_KEY")
        if not api_key:
            if not is_local_url(base_url):
                raise BackendSpecError(f"openai:{model} needs OPENAI_API_KEY (or OPENAI_BASE_URL for a local server)")
            api_key = "unused"  # local servers ignore it, the SDK insists on one
        return cls(_client(base_url, api_key, timeout), model, spec=f"openai:{model}", fim=bool(fim))

    @classmethod
    def ollama(cls, model: str, *, base_url: str | None = None, fim: bool = True,
               timeout: float = 120.0) -> "OpenAIBackend":
        """``ollama:<model>``: Ollama's OpenAI-compatible endpoint; OLLAMA_HOST is honoured like the ollama CLI does."""
        if base_url is None:
            host = os.environ.get("OLLAMA_HOST", "").strip()
            if host:
                base_url = checked_base_url(_ollama_url(host), "OLLAMA_HOST", shown=host)
            else:
                base_url = OLLAMA_URL
        else:
            base_url = checked_base_url(base_url, "the base URL")
        # Ollama's completions endpoint takes `suffix` for models with a fill-in-the-middle template.
        return cls(_client(base_url, "ollama", timeout), model, spec=f"ollama:{model}", fim=fim)

    async def aclose(self) -> None:
        await self._client.close()

    def _limit(self, max_tokens: int) -> _TokenLimit:
        # OpenAI's newer models refuse max_tokens; most compatible servers only know max_tokens.
        if self.base_url.startswith(OPENAI_URL):
            return {"max_completion_tokens": max_tokens}
        return {"max_tokens": max_tokens}

    async def chat(self, request: ChatRequest) -> AsyncIterator[Delta]:
        messages: list[Any] = [{"role": m.role, "content": m.content} for m in request.messages]
        prompt = sum(estimate_tokens(m.content) for m in request.messages)
        try:
            stream = await self._client.chat.completions.create(
                model=self.model,
                messages=messages,
                stream=True,
                stream_options={"include_usage": True},
                **self._limit(request.max_tokens),
            )
        except openai.OpenAIError as exc:
            raise BackendError(describe_error(exc, self.base_url, self._secrets)) from exc
        async for delta in _deltas(stream, prompt, self.base_url, lambda c: c.delta.content, self._secrets):
            yield delta

    async def complete(self, request: CompletionRequest) -> AsyncIterator[Delta]:
        if not self.fim:
            async for delta in self.chat(fim_as_chat(request)):
                yield delta
            return
        prompt = estimate_tokens(request.prefix) + estimate_tokens(request.suffix)
        try:
            stream = await self._client.completions.create(
                model=self.model,
                prompt=request.prefix,
                suffix=request.suffix,
                stream=True,
                stream_options={"include_usage": True},
                temperature=0.2,
                max_tokens=request.max_tokens,
            )
        except openai.OpenAIError as exc:
            raise BackendError(describe_error(exc, self.base_url, self._secrets)) from exc
        async for delta in _deltas(stream, prompt, self.base_url, lambda c: c.text, self._secrets):
            yield delta


    async def fill(self, prompt: str, stop: Sequence[str], max_tokens: int) -> AsyncIterator[Delta]:
        """A raw completion of ``prompt`` (a fill-in-the-middle template already applied: collab/ai/fim.py).

        For servers that hand the prompt to a code model as it is (llama.cpp, vLLM); Ollama applies
        its own template to ``suffix`` instead, so its backend keeps ``complete``.
        """
        try:
            stream = await self._client.completions.create(
                model=self.model,
                prompt=prompt,
                stop=list(stop[:4]) or None,  # the API takes at most 4; fim.strip_stops checks the rest
                stream=True,
                stream_options={"include_usage": True},
                temperature=0.2,
                max_tokens=max_tokens,
            )
        except openai.OpenAIError as exc:
            raise BackendError(describe_error(exc, self.base_url, self._secrets)) from exc
        async for delta in _deltas(stream, estimate_tokens(prompt), self.base_url, lambda c: c.text, self._secrets):
            yield delta


async def _deltas(
    stream: Any, prompt_estimate: int, base_url: str, text_of: Any, secrets: tuple[str, ...]
) -> AsyncIterator[Delta]:
    """Text deltas of a chat or completions stream, then its Usage.

    ``async with stream`` is what makes cancellation real: when our caller closes this generator,
    the exit closes the HTTP response, so the server sees the connection go away.
    """
    usage: Usage | None = None
    produced = 0
    async with stream:
        try:
            async for chunk in stream:
                if chunk.usage is not None:
                    usage = Usage(chunk.usage.prompt_tokens or 0, chunk.usage.completion_tokens or 0)
                for choice in chunk.choices or ():
                    text = text_of(choice)
                    if text:
                        produced += 1
                        yield text
        except openai.APIConnectionError as exc:
            if isinstance(exc, openai.APITimeoutError):
                raise BackendError(describe_error(exc, base_url, secrets)) from exc
            # Already streaming, so the server was reachable: the stream itself died.
            raise BackendError(f"the connection to the model server at {_host(base_url)} broke mid-answer") from exc
        except openai.OpenAIError as exc:
            raise BackendError(describe_error(exc, base_url, secrets)) from exc
        except Exception as exc:  # the SDK wraps transport errors; anything else is still a failed call
            raise BackendError(f"the connection to the model server at {_host(base_url)} broke: {type(exc).__name__}") from exc
    # Without usage from the server, each streamed chunk is about one token.
    yield usage or Usage(prompt_estimate, produced, estimated=True)


def fim_as_chat(request: CompletionRequest) -> ChatRequest:
    """Fill-in-the-middle for chat-only models: the file with a cursor marker, and a strict instruction."""
    context = "".join(f"File {d.path}:\n{d.text}\n\n" for d in request.documents)
    user = f"{context}File {request.path} (complete at <CURSOR>):\n{request.prefix}<CURSOR>{request.suffix}"
    return ChatRequest(
        messages=(ChatMessage("system", FIM_SYSTEM), ChatMessage("user", user)),
        documents=request.documents,
        max_tokens=request.max_tokens,
    )


def describe_error(exc: BaseException, base_url: str, secrets: Iterable[str] = ()) -> str:
    """One line for the shared chat: what went wrong, never a key, never a whole response body.

    ``secrets`` (the API key in use) are removed whatever they look like, and so is anything shaped
    like a credential (collab/crypto/redact.py); only then is the line cut to length, so no cut
    leaves part of a key behind.
    """
    if isinstance(exc, openai.APITimeoutError):
        text = f"the model server at {_host(base_url)} did not answer in time"
    elif isinstance(exc, openai.APIConnectionError):
        text = f"cannot reach the model server at {_host(base_url)}"
    elif isinstance(exc, openai.AuthenticationError):
        text = "the model server refused our API key (401)"
    elif isinstance(exc, openai.RateLimitError):
        text = "the model server is rate limiting us (429): " + _message(exc)
    elif isinstance(exc, openai.APIStatusError):
        text = f"the model server answered {exc.status_code}: " + _message(exc)
    elif isinstance(exc, openai.APIError):
        text = "the model stream failed: " + _message(exc)
    else:
        text = f"the model call failed: {type(exc).__name__}"
    return redact(text, secrets)[:300]


def _message(exc: openai.APIError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return str(inner["message"])
        if isinstance(body.get("message"), str):
            return str(body["message"])
    return str(exc.message or type(exc).__name__)


def is_local_url(url: str) -> bool:
    """Loopback, private and link-local addresses and *.local/localhost names stay on the operator's network."""
    host = urlsplit(url).hostname or ""
    if host == "localhost" or host.endswith((".localhost", ".local", ".internal", ".lan")):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        # A bare name without dots (docker compose service "ollama") resolves inside the operator's network.
        return "." not in host and host != ""
    return address.is_loopback or address.is_private or address.is_link_local


def _host(url: str) -> str:
    parts = urlsplit(url)  # never userinfo: base URLs sometimes carry credentials
    return parts.hostname + (f":{parts.port}" if parts.port else "") if parts.hostname else "?"


def checked_base_url(url: str, what: str, *, shown: str | None = None) -> str:
    """``url`` if it is an http(s) URL with a host the SDK can use, else a BackendSpecError naming ``what``.

    Without a scheme, ``localhost:1234/v1`` parses as scheme "localhost" and no host at all: the
    backend would call it a cloud service and fail on the first request, so refuse it up front.
    """
    url = url.strip()
    example = "e.g. http://localhost:1234/v1" if what != "OLLAMA_HOST" else "e.g. 127.0.0.1:11434 or http://gpu-box:11434"
    quoted = _quoted(shown if shown is not None else url)
    try:
        parts = urlsplit(url)
    except ValueError:  # an unbalanced [ of an IPv6 address
        raise BackendSpecError(f"{what} {quoted} is not a usable URL ({example})") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise BackendSpecError(f"{what} {quoted} needs http:// or https:// in front ({example})")
    try:
        parts.port  # noqa: B018 (raises ValueError on a port that is not a number)
        httpx.URL(url)
    except (ValueError, httpx.InvalidURL):
        raise BackendSpecError(f"{what} {quoted} is not a usable URL ({example})") from None
    if not parts.hostname:
        raise BackendSpecError(f"{what} {quoted} has no host name ({example})")
    return url


def _ollama_url(host: str) -> str:
    """OLLAMA_HOST as the ollama CLI reads it: a bare host[:port] means http, and port 11434 when none is given."""
    if "://" not in host:
        try:
            parts = urlsplit(f"http://{host}")
            bare = parts.port is None and bool(parts.hostname)
        except ValueError:
            bare = False  # not a URL at all: checked_base_url says so
        host = f"http://{parts.netloc}:11434{parts.path}" if bare else f"http://{host}"
    return host.rstrip("/") + "/v1"


def _quoted(value: str) -> str:
    # Base URLs sometimes carry credentials (user:key@host): never echo those.
    return "(value hidden: it carries credentials)" if "@" in value else repr(value[:200])


def _client(base_url: str, api_key: str, timeout: float) -> AsyncOpenAI:
    # max_retries=0: a retried stream would be a second model call the room pays for, and an
    # error the room never sees; the agent reports failures instead.
    return AsyncOpenAI(
        base_url=base_url,
        api_key=api_key,
        max_retries=0,
        timeout=openai.Timeout(timeout, connect=10.0),
    )
