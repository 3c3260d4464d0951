"""`collab join` as a real subprocess, stopped with Ctrl-C (SIGINT) like a person would."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path


class JoinProcess:
    def __init__(self, link: str, folder: Path, name: str, *extra: str) -> None:
        self.cmd = [sys.executable, "-m", "collab.cli", "join", link, "--dir", str(folder), "--name", name, *extra]
        self.folder = folder
        self.lines: list[str] = []
        self.proc: subprocess.Popen[str] | None = None

    def start(self, timeout: float = 60.0) -> "JoinProcess":
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, bufsize=1)
        ready = threading.Event()

        def pump() -> None:
            assert self.proc and self.proc.stderr
            for line in self.proc.stderr:
                self.lines.append(line)
                if line.startswith("mirroring room"):
                    ready.set()

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not ready.wait(0.05):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("collab join did not start:\n" + self.output())
        return self

    def output(self) -> str:
        return "".join(self.lines)

    def peak_rss_kib(self) -> int:
        """VmHWM: the most resident memory the process has used so far."""
        assert self.proc
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        return 0

    def stop(self, timeout: float = 20.0) -> int:
        assert self.proc
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise
        return self.proc.returncode
