from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from tests.support.hub_process import HubProcess


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[HubProcess]:
    # Debug logging on purpose: the tests check that even the most talkative hub logs no plaintext.
    proc = HubProcess(tmp_path / "data", "--log-level", "debug", "--room-idle-seconds", "0.5").start()
    try:
        yield proc
    finally:
        proc.stop()
