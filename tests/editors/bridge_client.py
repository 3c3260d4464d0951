"""A real `collab editor` process driven over its stdio, as a plugin would."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from typing import Any, AsyncIterator, Callable

from collab.editor.rpc import encode, read_frame


class BridgeClient:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.next_id = 0
        self.waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.notifications: list[dict[str, Any]] = []
        self.errors: list[dict[str, Any]] = []  # responses with id null
        self.changed = asyncio.Event()
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while True:
            body = await read_frame(self.proc.stdout)
            if body is None:
                return
            assert isinstance(body, bytes), body
            message = json.loads(body)
            if "method" in message:
                self.notifications.append(message)
            elif message.get("id") is None:
                self.errors.append(message)
            else:
                self.waiting.pop(message["id"]).set_result(message)
            self.changed.set()

    def send_raw(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)

    async def call(self, method: str, timeout: float = 30.0, **params: Any) -> dict[str, Any]:
        """The whole response (``result`` or ``error``)."""
        self.next_id += 1
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.waiting[self.next_id] = future
        self.send_raw(encode({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params}))
        return await asyncio.wait_for(future, timeout)

    async def result(self, method: str, **params: Any) -> Any:
        response = await self.call(method, **params)
        assert "result" in response, response
        return response["result"]

    def of(self, method: str, where: Callable[[dict[str, Any]], bool] = lambda p: True) -> list[dict[str, Any]]:
        return [n["params"] for n in self.notifications if n["method"] == method and where(n["params"])]


@contextlib.asynccontextmanager
async def bridge(name: str = "ed") -> AsyncIterator[BridgeClient]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "collab.cli", "editor", "--name", name,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )
    client = BridgeClient(proc)
    try:
        yield client
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
        client.reader.cancel()
