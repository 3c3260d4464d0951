"""JSON-RPC 2.0 with LSP-style ``Content-Length`` framing, over any pair of asyncio streams.

Each message is ``Content-Length: N\\r\\n\\r\\n`` then N bytes of UTF-8 JSON (other headers are
read and ignored, as LSP allows ``Content-Type``). Anything malformed is answered with an error
response and reading goes on: a frame without a usable length (-32700, id null; its header block
is skipped), a body that is not JSON (-32700), not a request object (-32600), an unknown method
(-32601), wrong parameters (-32602). A handler's own refusal is -32000 with the reason.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Awaitable, Callable

log = logging.getLogger(__name__)

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
REFUSED = -32000

MAX_FRAME = 64 * 1024 * 1024  # a whole file in one edit; past this a frame is refused unread

Handler = Callable[[dict[str, Any]], Awaitable[Any]]


class RpcError(Exception):
    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


def refused(message: str) -> RpcError:
    return RpcError(REFUSED, message)


def bad_params(message: str) -> RpcError:
    return RpcError(INVALID_PARAMS, message)


def encode(message: dict[str, Any]) -> bytes:
    body = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


async def read_frame(reader: asyncio.StreamReader) -> bytes | None | RpcError:
    """The next frame's body; an RpcError for a frame that cannot be read; None at the end."""
    length: int | None = None
    bad = ""
    while True:
        line = await reader.readline()
        if not line:
            return None
        if line in (b"\r\n", b"\n"):
            if length is None and not bad:
                continue  # blank lines between frames
            break
        name, sep, value = line.decode("latin-1").partition(":")
        if not sep:
            bad = f"a header line without ':' ({line[:40]!r})"
        elif name.strip().lower() == "content-length":
            try:
                length = int(value.strip())
            except ValueError:
                bad = f"Content-Length is not a number ({value.strip()[:40]!r})"
    if bad or length is None:
        return RpcError(PARSE_ERROR, bad or "a frame without Content-Length")
    if not 0 <= length <= MAX_FRAME:
        return RpcError(PARSE_ERROR, f"Content-Length {length} is out of range (0..{MAX_FRAME})")
    try:
        return await reader.readexactly(length)
    except asyncio.IncompleteReadError:
        return None


class Endpoint:
    """Reads requests and notifications, runs their handlers in order, writes responses."""

    def __init__(self, reader: asyncio.StreamReader, write: Callable[[bytes], None]) -> None:
        self.reader = reader
        self._write = write
        self.handlers: dict[str, Handler] = {}

    def notify(self, method: str, params: dict[str, Any]) -> None:
        self._write(encode({"jsonrpc": "2.0", "method": method, "params": params}))

    def _error(self, request_id: Any, error: RpcError) -> None:
        body: dict[str, Any] = {"code": error.code, "message": error.message}
        if error.data is not None:
            body["data"] = error.data
        self._write(encode({"jsonrpc": "2.0", "id": request_id, "error": body}))

    async def serve(self) -> None:
        """Until the editor closes its end. Handlers run one at a time, in arrival order, so an
        edit is applied before the cursor move sent after it."""
        while True:
            frame = await read_frame(self.reader)
            if frame is None:
                return
            if isinstance(frame, RpcError):
                self._error(None, frame)
                continue
            try:
                message = json.loads(frame.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as exc:
                self._error(None, RpcError(PARSE_ERROR, f"the body is not JSON: {exc}"))
                continue
            if isinstance(message, list):
                if not message:
                    self._error(None, RpcError(INVALID_REQUEST, "an empty batch"))
                for item in message:
                    await self._one(item)
            else:
                await self._one(message)

    async def _one(self, message: Any) -> None:
        request_id = message.get("id") if isinstance(message, dict) else None
        if not isinstance(request_id, (str, int, type(None))) or isinstance(request_id, bool):
            request_id = None
        has_id = isinstance(message, dict) and "id" in message
        try:
            if not isinstance(message, dict) or message.get("jsonrpc") != "2.0" or not isinstance(
                message.get("method"), str
            ):
                raise RpcError(INVALID_REQUEST, "a request is {jsonrpc: '2.0', method, params?, id?}")
            handler = self.handlers.get(message["method"])
            if handler is None:
                raise RpcError(METHOD_NOT_FOUND, f"no method {message['method']!r}")
            params = message.get("params", {})
            if not isinstance(params, dict):
                raise RpcError(INVALID_PARAMS, "params must be an object")
            result = await handler(params)
        except RpcError as exc:
            if has_id or exc.code in (INVALID_REQUEST, PARSE_ERROR):
                self._error(request_id, exc)
            else:  # a notification gets no response; say it on the log
                self.notify("log", {"level": "error", "message": exc.message})
            return
        except Exception as exc:  # a bug in a handler must not end the bridge
            log.exception("handler failed")
            if has_id:
                self._error(request_id, RpcError(INTERNAL_ERROR, f"{type(exc).__name__}: {exc}"))
            return
        if has_id:
            self._write(encode({"jsonrpc": "2.0", "id": request_id, "result": result}))
