"""The seam between the agent and a language model: one small protocol, streamed everywhere.

A backend turns a request into an async iterator of text deltas followed by one final ``Usage``.
Closing the iterator early (``aclose()``, or cancelling the task that iterates it) must release the
underlying request: for HTTP backends that means closing the connection, so a server stops
generating tokens nobody will read.

Backends are named by a spec string, ``kind:model`` (``openai:gpt-4o-mini``, ``ollama:qwen2.5-coder``)
or a bare kind (``builtin``). Third-party packages add kinds through the ``collab.backends``
entry-point group; an entry point names a callable ``factory(model: str) -> ModelBackend``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import AsyncIterator, Callable, Literal, Protocol, Sequence, runtime_checkable

ENTRY_POINT_GROUP = "collab.backends"


class BackendError(RuntimeError):
    """A model call that failed: the message is short, safe to show in the shared chat, and never quotes secrets."""


class BackendSpecError(ValueError):
    """A backend spec that names nothing we can load."""


@dataclass(frozen=True)
class ChatMessage:
    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True)
class Document:
    """A file (or the part of it that fits the budget) handed to the model as context."""

    path: str
    text: str


@dataclass(frozen=True)
class ChatRequest:
    messages: Sequence[ChatMessage]
    # The files already rendered into ``messages``, kept separately for backends that do not read prose.
    documents: Sequence[Document] = ()
    max_tokens: int = 512


@dataclass(frozen=True)
class CompletionRequest:
    path: str
    prefix: str
    suffix: str
    documents: Sequence[Document] = ()
    max_tokens: int = 128


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    # True when the server did not report usage and the numbers are our estimate.
    estimated: bool = False

    @property
    def total(self) -> int:
        return self.prompt_tokens + self.completion_tokens


Delta = str | Usage


@runtime_checkable
class ModelBackend(Protocol):
    spec: str  # how it was named, e.g. "openai:gpt-4o-mini"
    model: str  # the model name shown in presence and provenance
    # True when no text leaves machines the operator controls (rooms marked "local models only" need it).
    local: bool
    description: str  # one honest line for presence and docs

    def chat(self, request: ChatRequest) -> AsyncIterator[Delta]:
        """Stream an answer: text deltas, then exactly one Usage. Raises BackendError on failure."""
        ...

    def complete(self, request: CompletionRequest) -> AsyncIterator[Delta]:
        """Stream the text that belongs between prefix and suffix, then one Usage."""
        ...

    async def aclose(self) -> None:
        """Release connections and other resources."""
        ...


BackendFactory = Callable[[str], ModelBackend]


def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate (~4 characters a token for English and code), used for budgets only."""
    return math.ceil(len(text) / 4)


def _builtin_factories() -> dict[str, BackendFactory]:
    # Imported lazily: the openai SDK is slow to import and the builtin backend does not need it.
    def openai(model: str) -> ModelBackend:
        from collab.ai.openai_backend import OpenAIBackend

        return OpenAIBackend.openai(model)

    def ollama(model: str) -> ModelBackend:
        from collab.ai.openai_backend import OpenAIBackend

        return OpenAIBackend.ollama(model)

    def builtin(model: str) -> ModelBackend:
        from collab.ai.builtin import BuiltinBackend

        return BuiltinBackend()

    return {"openai": openai, "ollama": ollama, "builtin": builtin}


@dataclass
class BackendRegistry:
    """Known backend kinds: the built-in ones plus whatever the ``collab.backends`` entry points add."""

    factories: dict[str, BackendFactory] = field(default_factory=_builtin_factories)

    @classmethod
    def discover(cls) -> "BackendRegistry":
        registry = cls()
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if ep.name in registry.factories:
                continue  # a plug-in cannot silently replace a built-in kind
            registry.factories[ep.name] = _lazy(ep.name, ep.load)
        return registry

    def create(self, spec: str | None) -> ModelBackend:
        spec = (spec or "builtin").strip()
        kind, _, model = spec.partition(":")
        factory = self.factories.get(kind)
        if factory is None:
            known = ", ".join(sorted(self.factories))
            raise BackendSpecError(f"unknown model backend {kind!r} in {spec!r}; known: {known}")
        if kind in ("openai", "ollama") and not model:
            raise BackendSpecError(f"{kind} needs a model name, e.g. {kind}:{'gpt-4o-mini' if kind == 'openai' else 'qwen2.5-coder'}")
        return factory(model)


def _lazy(name: str, load: Callable[[], object]) -> BackendFactory:
    def factory(model: str) -> ModelBackend:
        target = load()
        backend = target(model) if callable(target) else None
        if not isinstance(backend, ModelBackend):
            raise BackendSpecError(f"the {ENTRY_POINT_GROUP} entry point {name!r} did not return a ModelBackend")
        return backend

    return factory


def load_backend(spec: str | None) -> ModelBackend:
    """The backend a spec names; ``None`` or ``""`` gives the builtin completer."""
    return BackendRegistry.discover().create(spec)
