from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from tests.support.hub_process import HubProcess
from tests.support.openai_stub_server import OpenAIStubServer


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[HubProcess]:
    proc = HubProcess(tmp_path / "data", "--room-idle-seconds", "0.5").start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def stub() -> Iterator[OpenAIStubServer]:
    """The local OpenAI-compatible streaming server (the real SDK talks to it)."""
    with OpenAIStubServer() as server:
        yield server
