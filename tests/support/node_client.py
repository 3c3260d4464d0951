"""Drive the stock Yjs client in tests/interop (yjs 13 + y-websocket WebsocketProvider + ws) from Python."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

INTEROP = Path(__file__).resolve().parent.parent / "interop"


def node_available() -> str | None:
    """Why the Node interop client cannot run here, or None when it can."""
    if shutil.which("node") is None:
        return "node is not installed"
    if not (INTEROP / "node_modules" / "y-websocket").exists():
        return "run `npm ci --prefix tests/interop` first"
    return None


class NodeYjsClient:
    def __init__(self, ws_base: str, room: str, name: str) -> None:
        self.args = [str(INTEROP / "yjs_client.mjs"), ws_base, room, name]
        self.proc: asyncio.subprocess.Process | None = None
        self.synced = asyncio.Event()
        self.text = ""
        self.awareness: dict[str, Any] = {}
        self._reader: asyncio.Task[None] | None = None

    async def __aenter__(self) -> "NodeYjsClient":
        self.proc = await asyncio.create_subprocess_exec(
            "node", *self.args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
        )
        self._reader = asyncio.create_task(self._read())
        await asyncio.wait_for(self.synced.wait(), 15)
        return self

    async def _read(self) -> None:
        assert self.proc and self.proc.stdout
        async for line in self.proc.stdout:
            event = json.loads(line)
            if event["event"] == "synced":
                self.synced.set()
            elif event["event"] == "text":
                self.text = event["text"]
            elif event["event"] == "awareness":
                self.awareness = event["states"]

    async def send(self, **command: Any) -> None:
        assert self.proc and self.proc.stdin
        self.proc.stdin.write((json.dumps(command) + "\n").encode())
        await self.proc.stdin.drain()

    async def __aexit__(self, *exc: object) -> None:
        assert self.proc
        try:
            await self.send(op="quit")
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            await asyncio.wait_for(self.proc.wait(), 5)
        except asyncio.TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        if self._reader:
            self._reader.cancel()
