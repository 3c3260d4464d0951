"""Backends on their own: the OpenAI-compatible one through the real SDK, the builtin one, the registry."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path

import openai
import pytest

from collab.ai.backend import (
    BackendError,
    BackendSpecError,
    ChatMessage,
    ChatRequest,
    CompletionRequest,
    Document,
    ModelBackend,
    Usage,
    load_backend,
)
from collab.ai.builtin import BuiltinBackend, suggest
from collab.ai.openai_backend import OpenAIBackend, describe_error, is_local_url
from tests.support.openai_stub_server import Reply

ASK = ChatRequest(messages=(ChatMessage("user", "hi"),), max_tokens=50)


async def collect(stream) -> tuple[str, Usage]:  # type: ignore[no-untyped-def]
    text, usage = "", None
    async for delta in stream:
        if isinstance(delta, Usage):
            usage = delta
        else:
            text += delta
    assert usage is not None
    return text, usage


async def test_chat_streams_deltas_then_the_servers_usage(stub, backend) -> None:
    stub.script(Reply(tokens=["Hel", "lo", "!"], usage=(7, 3)))
    text, usage = await collect(backend.chat(ASK))
    assert text == "Hello!" and usage == Usage(7, 3)
    body = stub.requests[0].body
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True} and body["max_tokens"] == 50


async def test_closing_the_iterator_closes_the_http_request(stub, backend) -> None:
    stub.script(Reply(tokens=["a", "b", "c", "d"], hang_after=2))
    stream = backend.chat(ASK)
    assert await anext(stream) == "a"
    assert await anext(stream) == "b"
    await stream.aclose()
    request = stub.requests[0]
    assert await asyncio.to_thread(request.finished.wait, 10)
    assert request.disconnected and not request.completed


async def test_http_errors_are_one_safe_line_and_never_retried(stub, backend) -> None:
    stub.script(Reply(status=401, error_message="Incorrect API key provided: sk-test-not-a-real-key."))
    with pytest.raises(BackendError) as info:
        await collect(backend.chat(ASK))
    assert "401" in str(info.value) and "sk-test" not in str(info.value)
    stub.script(Reply(status=429, error_message="slow down"))
    with pytest.raises(BackendError, match="429.*slow down"):
        await collect(backend.chat(ASK))
    assert len(stub.requests) == 2


def test_error_text_redacts_anything_key_like() -> None:
    exc = openai.APIError("bad key sk-proj-abcdefghijklmnop used", request=None, body=None)  # type: ignore[arg-type]
    assert "abcdefgh" not in describe_error(exc, "https://api.openai.com/v1")


async def test_unreachable_server_is_a_clear_error() -> None:
    b = OpenAIBackend.ollama("m", base_url="http://127.0.0.1:9/v1")
    with pytest.raises(BackendError, match="cannot reach the model server at 127.0.0.1:9"):
        await collect(b.complete(CompletionRequest("a.py", "x", "y")))
    await b.aclose()


def test_local_or_cloud() -> None:
    assert is_local_url("http://127.0.0.1:11434/v1") and is_local_url("http://localhost:8080/v1")
    assert is_local_url("http://10.1.2.3/v1") and is_local_url("http://ollama:11434/v1")
    assert not is_local_url("https://api.openai.com/v1") and not is_local_url("https://8.8.8.8/v1")


def test_specs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("OLLAMA_HOST", raising=False)
    assert load_backend(None).spec == "builtin" and load_backend("").spec == "builtin"
    with pytest.raises(BackendSpecError, match="OPENAI_API_KEY"):
        load_backend("openai:gpt-4o-mini")
    with pytest.raises(BackendSpecError, match="needs a model name"):
        load_backend("ollama")
    with pytest.raises(BackendSpecError, match="unknown model backend 'claude'"):
        load_backend("claude:x")
    ollama = load_backend("ollama:qwen2.5-coder")
    assert isinstance(ollama, OpenAIBackend) and ollama.local and ollama.fim
    assert ollama.base_url == "http://127.0.0.1:11434/v1"
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:8080/v1")  # e.g. llama.cpp server, no key needed
    compatible = load_backend("openai:local-model")
    assert isinstance(compatible, OpenAIBackend) and compatible.local
    monkeypatch.setenv("OPENAI_BASE_URL", "https://api.openai.com/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert not load_backend("openai:gpt-4o-mini").local


def test_third_party_backends_come_from_entry_points(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real installed distribution (a dist-info on sys.path) adds the kind `echo`."""
    (tmp_path / "echo_backend.py").write_text(textwrap.dedent("""
        from collab.ai.builtin import BuiltinBackend

        class Echo(BuiltinBackend):
            def __init__(self, model):
                self.model = model
                self.spec = "echo:" + model

        def factory(model):
            return Echo(model)
    """))
    dist = tmp_path / "echo_backend-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: echo-backend\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[collab.backends]\necho = echo_backend:factory\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    backend = load_backend("echo:v1")
    assert isinstance(backend, ModelBackend) and backend.spec == "echo:v1" and backend.model == "v1"


def test_builtin_completes_identifiers_and_repeated_snippets() -> None:
    lib = Document("lib.py", "def connect_database(url):\n    pass\n\nresult = connect_database(settings.url)\n")
    assert "".join(suggest("x = conn", "\n", [lib], 20)).startswith("ect_database(")
    repeated = "for item in items:\n    total += item.price * item.count\n"
    text = "".join(suggest(repeated + "\nfor item in items:\n    total += item.", "\n", [], 40))
    assert text == "price * item.count"
    assert suggest("zzz_unknown", "", [], 20) == []


async def test_builtin_is_honest_in_chat() -> None:
    text, usage = await collect(BuiltinBackend().chat(ASK))
    assert "not a language model" in text and usage.estimated
