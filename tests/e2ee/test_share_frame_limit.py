"""`collab share` into a hub whose frame limit is smaller than a change: a clear error at once."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.hub_process import HubProcess


@pytest.mark.parametrize("kind", ["encrypted", "plaintext"])
async def test_change_over_the_hub_frame_limit_fails_at_once(kind: str, tmp_path: Path) -> None:
    hub = HubProcess(tmp_path / "data", env={"COLLAB_MAX_FRAME_BYTES": "2000"}).start()
    try:
        project = tmp_path / "bigproj"
        project.mkdir()
        (project / "small.py").write_text("x = 1\n")
        (project / "big.py").write_text("".join(f"line_{i} = {i}\n" for i in range(600)))  # ~8 kB
        cmd = [sys.executable, "-m", "collab", "share", str(project), "--server", hub.url]
        if kind == "plaintext":
            cmd.append("--plaintext")
        start = time.monotonic()
        result = await asyncio.to_thread(subprocess.run, cmd, capture_output=True, text=True, timeout=120)
        took = time.monotonic() - start
    finally:
        hub.stop()
    assert result.returncode == 1, result.stderr
    assert took < 30, f"{took:.0f} s: {result.stderr}"
    assert result.stdout == ""  # no link to an incomplete room
    assert "larger than the hub's frame limit" in result.stderr and "1009" in result.stderr, result.stderr
    assert hub.log().count("closed with 1009") == 1, hub.log()  # one try, not a retry loop
