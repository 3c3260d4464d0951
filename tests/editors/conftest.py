from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from tests.support.hub_process import HubProcess


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[HubProcess]:
    proc = HubProcess(tmp_path / "data", "--room-idle-seconds", "0.5").start()
    try:
        yield proc
    finally:
        proc.stop()
