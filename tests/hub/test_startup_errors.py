"""`collab serve` that cannot start says why in one line and exits non-zero; it never shares a data dir."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pycrdt

from tests.support.ports import free_port
from tests.support.hub_process import HubProcess
from tests.support.yclient import pycrdt_client
from tests.support.waiting import eventually


def serve(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "collab.cli", "serve", "--port", "0", *args],
        capture_output=True, text=True, timeout=timeout,
    )


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("collab serve:")]
    assert len(errors) == 1, done.stderr
    return errors[0]


async def test_a_second_hub_on_the_same_data_dir_refuses_and_the_first_keeps_serving(tmp_path: Path) -> None:
    first = HubProcess(tmp_path / "data").start()
    try:
        second = serve("--data", str(tmp_path / "data"))
        line = one_line_error(second)
        assert "in use by another collab hub" in line and f"pid {first.proc.pid}" in line  # type: ignore[union-attr]
        async with pycrdt_client(f"{first.ws_url}/ws/still-mine") as client:
            client.get("code", type=pycrdt.Text).insert(0, "kept")
            async with pycrdt_client(f"{first.ws_url}/ws/still-mine") as other:
                text = other.get("code", type=pycrdt.Text)
                await eventually(lambda: str(text) == "kept")
    finally:
        first.stop()
    # The lock goes with the process: the data dir can be served again.
    again = HubProcess(tmp_path / "data").start()
    try:
        assert httpx.get(f"{again.url}/healthz").status_code == 200
    finally:
        again.stop()


def test_an_unreachable_redis_is_one_line_and_hides_the_password() -> None:
    url = f"redis://:s3cret-pw@127.0.0.1:{free_port()}/0"
    line = one_line_error(serve("--redis", url))
    assert "cannot reach Redis" in line
    assert "s3cret-pw" not in line


def test_a_data_path_that_is_a_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("not a folder")
    line = one_line_error(serve("--data", str(tmp_path / "afile")))
    assert "is not a directory" in line


def test_values_that_cannot_work_are_refused_before_anything_starts(tmp_path: Path) -> None:
    for args, says in [
        (["--compact-after", "0"], "compact-after must be at least 1"),
        (["--room-idle-seconds", "-1"], "room-idle-seconds must be 0 or more"),
        (["--log-level", "loud"], "log level must be debug, info"),
    ]:
        done = serve("--data", str(tmp_path / "d"), *args)
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert says in done.stderr
    line = one_line_error(serve("--redis", f"redis://127.0.0.1:{free_port()}/0?cluster=maybe"))
    assert "cluster= option must be yes or no" in line
