from __future__ import annotations

from typing import AsyncIterator, Iterator

import pytest

from collab.ai.openai_backend import OpenAIBackend
from tests.support.openai_stub_server import OpenAIStubServer


@pytest.fixture
def stub() -> Iterator[OpenAIStubServer]:
    with OpenAIStubServer() as server:
        yield server


@pytest.fixture
async def backend(stub: OpenAIStubServer) -> AsyncIterator[OpenAIBackend]:
    """openai:stub-model through the real SDK, pointed at the local stub (a loopback server: local)."""
    b = OpenAIBackend.openai("stub-model", base_url=stub.base_url, api_key="sk-test-not-a-real-key")
    try:
        yield b
    finally:
        await b.aclose()
