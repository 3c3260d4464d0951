"""Shared pieces of the AI-in-the-browser tests: a real agent process against the local OpenAI stub."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import AsyncIterator

from tests.support.openai_stub_server import OpenAIStubServer


class AgentProcess:
    """`collab agent ...` as an operator runs it, with its output collected for assertions."""

    def __init__(self, args: list[str], stub: OpenAIStubServer) -> None:
        env = {**os.environ, "OPENAI_BASE_URL": stub.base_url, "OPENAI_API_KEY": "sk-test-not-a-real-key"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "collab.cli", "agent", *args, "--model", "openai:stub-model"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, bufsize=1,
        )
        self.lines: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout
        for line in self.proc.stdout:
            self.lines.append(line)

    def output(self) -> str:
        return "".join(self.lines)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@contextlib.asynccontextmanager
async def agent_process(args: list[str], stub: OpenAIStubServer) -> AsyncIterator[AgentProcess]:
    agent = AgentProcess(args, stub)
    try:
        yield agent
    finally:
        await asyncio.to_thread(agent.stop)


def hub_bytes(data: Path) -> bytes:
    """Every byte the hub keeps on disk: the SQLite file and its write-ahead log."""
    return b"".join(p.read_bytes() for p in sorted(data.rglob("*")) if p.is_file())
