"""Start a real `collab serve` process on a free port and stop it the way an operator would."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

READY = re.compile(r"collab hub ready at (http://\S+)")


class HubProcess:
    def __init__(self, data: Path, *args: str, env: dict[str, str] | None = None, port: int = 0) -> None:
        self.data = data
        self.args = list(args)
        self.env = {**os.environ, **(env or {})}
        self.port = port
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.output: list[str] = []

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://", 1)

    def start(self, timeout: float = 20.0) -> "HubProcess":
        cmd = [sys.executable, "-m", "collab.cli", "serve", "--port", str(self.port), "--data", str(self.data), *self.args]
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=self.env, bufsize=1
        )
        ready = threading.Event()

        def pump() -> None:
            assert self.proc and self.proc.stdout
            for line in self.proc.stdout:
                self.output.append(line)
                m = READY.search(line)
                if m:
                    self.url = m.group(1)
                    ready.set()

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not ready.wait(0.05):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("hub did not start:\n" + "".join(self.output))
        if self.port == 0:
            self.port = int(self.url.rsplit(":", 1)[1])
        return self

    def log(self) -> str:
        return "".join(self.output)

    def terminate(self, timeout: float = 15.0) -> int:
        assert self.proc
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        assert self.proc
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            try:
                self.terminate()
            except subprocess.TimeoutExpired:
                self.kill()


@contextlib.contextmanager
def running(hub: HubProcess) -> Iterator[HubProcess]:
    """Start ``hub`` and stop it when the block ends."""
    hub.start()
    try:
        yield hub
    finally:
        hub.stop()


def start_hub(tmp_path: Path, name: str, redis_url: str, *args: str, port: int = 0) -> HubProcess:
    """A hub on Redis with its data in ``tmp_path / name``; rooms unload after 0.5 s idle."""
    return HubProcess(tmp_path / name, "--redis", redis_url, "--room-idle-seconds", "0.5", *args, port=port).start()
