"""The local backend on the real llama.cpp (xllamacpp) with a tiny random-weight GGUF written by the test."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import AsyncIterator

import pytest

from collab.ai.backend import BackendError, BackendSpecError, ChatMessage, ChatRequest, CompletionRequest, Usage
from collab.ai.fim import TEMPLATES
from collab.ai.local_backend import LocalBackend, LocalSettings
from tests.support.tiny_gguf import generation_stopped_early, write_tiny_gguf


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_gguf(tmp_path_factory.mktemp("models") / "tiny-q8_0.gguf")


@pytest.fixture
async def local(tiny_model: Path) -> AsyncIterator[LocalBackend]:
    backend = LocalBackend(tiny_model, name="tiny", quantisation="F32", fim_template=TEMPLATES["qwen"],
                           settings=LocalSettings(threads=1, ctx_size=2048, parallel=1))
    try:
        yield backend
    finally:
        await backend.aclose()


async def collect(stream: AsyncIterator[str | Usage]) -> tuple[str, Usage]:
    text, usage = "", None
    async for delta in stream:
        if isinstance(delta, Usage):
            usage = delta
        else:
            text += delta
    assert usage is not None
    return text, usage


async def test_chat_streams_tokens_then_the_servers_usage(local: LocalBackend) -> None:
    assert local.local and local.description == "local model tiny (F32), on this machine"
    request = ChatRequest(messages=(ChatMessage("user", "hello"),), max_tokens=24)
    text, usage = await collect(local.chat(request))
    assert text and text.isprintable() or "\n" in text
    assert usage.completion_tokens == 24 and usage.prompt_tokens > 0 and not usage.estimated
    assert local.last_call is not None and local.last_call.finish_reason == "length"


async def test_completion_uses_the_fim_template(local: LocalBackend) -> None:
    request = CompletionRequest(path="a.py", prefix="def f(x):\n    return ", suffix="\n", max_tokens=16)
    text, usage = await collect(local.complete(request))
    assert text and usage.completion_tokens == 16
    assert local.last_call is not None and local.last_call.kind == "completion"


async def test_closing_the_stream_stops_generation_early(local: LocalBackend) -> None:
    max_tokens = 1500
    stream = local.chat(ChatRequest(messages=(ChatMessage("user", "go on"),), max_tokens=max_tokens))
    got = 0
    async for delta in stream:
        got += isinstance(delta, str)
        if got == 3:
            break
    await stream.aclose()
    record = local.last_call
    assert record is not None and record.returned.is_set()  # llama.cpp returned: it is not running on
    assert record.stop_requested and record.finish_reason is None
    assert record.chunks < max_tokens
    await generation_stopped_early(local, max_tokens // 10)  # a closed stream stops within tokens
    # The slot is free again at once: the next call is not queued behind the old one.
    text, usage = await asyncio.wait_for(collect(local.chat(ChatRequest((ChatMessage("user", "x"),), max_tokens=4))), 30)
    assert usage.completion_tokens == 4


async def test_cancelling_the_reading_task_stops_generation(local: LocalBackend) -> None:
    max_tokens = 1500
    first = asyncio.Event()

    async def read() -> None:
        async for delta in local.chat(ChatRequest(messages=(ChatMessage("user", "go"),), max_tokens=max_tokens)):
            first.set()

    task = asyncio.create_task(read())
    await first.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    record = local.last_call
    assert record is not None and record.returned.is_set() and record.stop_requested
    assert record.chunks < max_tokens and record.finish_reason is None
    await generation_stopped_early(local, max_tokens // 10)  # a closed stream stops within tokens


def test_a_file_that_is_not_a_model_is_one_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF not really")
    with pytest.raises(BackendSpecError, match="llama.cpp could not load broken.gguf"):
        LocalBackend.at(bad)
    with pytest.raises(BackendSpecError, match="no model file at"):
        LocalBackend.at(tmp_path / "missing.gguf")


async def test_one_request_may_use_the_whole_context_and_a_longer_one_is_refused(tiny_model: Path) -> None:
    # Two slots share one --ctx-size: a prompt over half of it is still served.
    backend = LocalBackend(tiny_model, name="tiny", settings=LocalSettings(threads=1, ctx_size=1024, parallel=2))
    try:
        long = ChatRequest(messages=(ChatMessage("user", "ab " * 250),), max_tokens=8)
        _, usage = await collect(backend.chat(long))
        assert usage.prompt_tokens > 512 and usage.completion_tokens == 8
        too_long = ChatRequest(messages=(ChatMessage("user", "ab " * 700),), max_tokens=8)
        with pytest.raises(BackendError, match="exceeds the available context size"):
            await collect(backend.chat(too_long))
    finally:
        await backend.aclose()
