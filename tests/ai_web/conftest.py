from __future__ import annotations

from typing import Iterator

import pytest

from tests.support.openai_stub_server import OpenAIStubServer


@pytest.fixture
def stub() -> Iterator[OpenAIStubServer]:
    with OpenAIStubServer() as server:
        yield server
