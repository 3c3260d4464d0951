"""A local stand-in for the OpenAI HTTP API, for driving the real ``openai`` SDK in tests.

It serves ``POST /v1/chat/completions`` and ``POST /v1/completions`` and streams the way the API
does: server-sent events ``data: {chunk}\\n\\n`` ending with ``data: [DONE]\\n\\n``, ``usage: null`` on
every chunk and a final usage-only chunk when ``stream_options.include_usage`` is set. Each reply is
scripted (tokens, pace, a pause the test releases, an error event mid-stream, a dropped
connection, a stall, an HTTP error), and every request is recorded with whether the client closed
the connection before the server was done, which is how tests see cancellation reach the network.

Independent of collab: a raw ASGI app on uvicorn, on a free port, in a thread of its own.

    with OpenAIStubServer() as server:
        server.script(Reply(tokens=["Hel", "lo"]))
        client = AsyncOpenAI(base_url=server.base_url, api_key="test")
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import uvicorn

from tests.support.waiting import eventually_sync


@dataclass
class Reply:
    tokens: Sequence[str] = ("Hello", ",", " world", ".")
    delay: float = 0.0  # seconds before each token
    pause_after: int | None = None  # hold after this many tokens until the request's `resume` is set
    error_after: int | None = None  # then send an OpenAI-style error event (the SDK raises APIError)
    drop_after: int | None = None  # then break the connection without [DONE] (a dying stream)
    hang_after: int | None = None  # then send nothing more, keeping the connection open
    status: int = 200  # anything else: a JSON error body instead of a stream
    error_message: str = "The server had an error while processing your request."
    usage: tuple[int, int] | None = None  # (prompt, completion); None: counted from the request and tokens


@dataclass
class StubRequest:
    path: str
    body: dict[str, Any]
    headers: dict[str, str]
    reply: Reply
    resume: threading.Event = field(default_factory=threading.Event)
    paused: threading.Event = field(default_factory=threading.Event)  # set once the pause point is reached
    finished: threading.Event = field(default_factory=threading.Event)  # the server is done with it
    tokens_sent: int = 0
    completed: bool = False  # [DONE] (or the scripted error/status) went out
    disconnected: bool = False  # the client closed the connection before the server finished

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))


class _Dropped(Exception):
    """Raised inside the app to make uvicorn abort the connection mid-response."""


class OpenAIStubServer:
    def __init__(self, default: Reply | None = None, host: str = "127.0.0.1") -> None:
        self.default = default or Reply()
        self.host = host
        self.port = 0
        self.requests: list[StubRequest] = []
        self._scripted: deque[Reply] = deque()
        self._responder: Callable[[StubRequest], Reply] | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # -- control from the test -------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def script(self, *replies: Reply) -> None:
        """Replies for the next requests, in order; after them, the default."""
        with self._lock:
            self._scripted.extend(replies)

    def respond_with(self, responder: Callable[[StubRequest], Reply] | None) -> None:
        self._responder = responder

    def wait_for_requests(self, count: int, timeout: float = 10.0) -> list[StubRequest]:
        eventually_sync(lambda: len(self.requests) >= count, timeout, interval=0.01, what=f"{count} requests")
        return self.requests

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> "OpenAIStubServer":
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self._app, log_level="critical", access_log=False, lifespan="off",
                                interface="asgi3")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        server, thread = self._server, self._thread

        def started() -> bool:
            if not thread.is_alive():
                raise RuntimeError("the OpenAI stub server did not start")
            return server.started

        eventually_sync(started, 10, interval=0.01, what="the OpenAI stub server started")
        return self

    def stop(self) -> None:
        if self._server is not None:
            for request in self.requests:
                request.resume.set()
            self._server.should_exit = True
            if self._thread is not None:
                self._thread.join(10)

    def __enter__(self) -> "OpenAIStubServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the ASGI app ----------------------------------------------------------------------------

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        if scope["method"] != "POST" or path not in ("/v1/chat/completions", "/v1/completions"):
            await _json(send, 404, {"error": {"message": f"no route {path}", "type": "invalid_request_error"}})
            return
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            await _json(send, 400, {"error": {"message": "body is not JSON", "type": "invalid_request_error"}})
            return
        headers = {k.decode(): v.decode() for k, v in scope["headers"] if k.lower() != b"authorization"}
        with self._lock:
            reply = self._responder(body) if self._responder else None
            reply = reply or (self._scripted.popleft() if self._scripted else self.default)
            request = StubRequest(path, body, headers, reply)
            self.requests.append(request)
        try:
            if reply.status != 200:
                await _json(send, reply.status, {"error": {"message": reply.error_message, "type": "server_error",
                                                           "param": None, "code": None}})
                request.completed = True
            elif request.stream:
                await self._stream(request, receive, send)
            else:
                await self._whole(request, send)
        finally:
            request.finished.set()

    async def _whole(self, request: StubRequest, send: Any) -> None:
        text = "".join(request.reply.tokens)
        usage = self._usage(request, len(request.reply.tokens))
        if request.path == "/v1/chat/completions":
            choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop",
                      "logprobs": None}
            obj = "chat.completion"
        else:
            choice = {"index": 0, "text": text, "finish_reason": "stop", "logprobs": None}
            obj = "text_completion"
        await _json(send, 200, {"id": _id(request), "object": obj, "created": int(time.time()),
                                "model": request.body.get("model", ""), "choices": [choice], "usage": usage})
        request.completed = True

    async def _stream(self, request: StubRequest, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache")]})
        sender = asyncio.ensure_future(self._events(request, send))
        watcher = asyncio.ensure_future(_until_disconnect(receive))
        done, _ = await asyncio.wait({sender, watcher}, return_when=asyncio.FIRST_COMPLETED)
        if watcher in done and not sender.done():
            request.disconnected = True
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
            return
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        exc = sender.exception()
        if isinstance(exc, _Dropped):
            raise exc  # uvicorn aborts the connection: the client sees the stream break
        if exc is not None:
            raise exc

    async def _events(self, request: StubRequest, send: Any) -> None:
        reply = request.reply
        chat = request.path == "/v1/chat/completions"
        include_usage = bool((request.body.get("stream_options") or {}).get("include_usage"))
        base = {"id": _id(request), "object": "chat.completion.chunk" if chat else "text_completion",
                "created": int(time.time()), "model": request.body.get("model", "")}
        if chat:
            base["system_fingerprint"] = "fp_stub"

        async def event(payload: dict[str, Any] | str) -> None:
            data = payload if isinstance(payload, str) else json.dumps(payload)
            await send({"type": "http.response.body", "body": f"data: {data}\n\n".encode(), "more_body": True})

        def chunk(text: str | None, finish: str | None = None, first: bool = False) -> dict[str, Any]:
            if chat:
                delta: dict[str, Any] = {} if text is None else {"content": text}
                if first:
                    delta["role"] = "assistant"
                choice: dict[str, Any] = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            else:
                choice = {"index": 0, "text": text or "", "logprobs": None, "finish_reason": finish}
            out = {**base, "choices": [choice]}
            if include_usage:
                out["usage"] = None
            return out

        if chat:
            await event(chunk("", first=True))  # the API opens with an empty, role-only delta
        for i, token in enumerate(reply.tokens):
            if i == reply.pause_after:
                request.paused.set()
                while not request.resume.is_set():
                    await asyncio.sleep(0.005)
            if i == reply.error_after:
                await event({"error": {"message": reply.error_message, "type": "server_error", "param": None,
                                       "code": None}})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                request.completed = True
                return
            if i == reply.drop_after:
                raise _Dropped()
            if i == reply.hang_after:
                request.paused.set()
                await asyncio.Event().wait()  # until the client gives up and disconnects
            if reply.delay:
                await asyncio.sleep(reply.delay)
            await event(chunk(token))
            request.tokens_sent += 1
        await event(chunk(None, finish="stop"))
        if include_usage:
            await event({**base, "choices": [], "usage": self._usage(request, request.tokens_sent)})
        await event("[DONE]")
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        request.completed = True

    @staticmethod
    def _usage(request: StubRequest, completion: int) -> dict[str, int]:
        if request.reply.usage is not None:
            prompt, completion = request.reply.usage
        else:
            body = request.body
            words = json.dumps(body.get("messages") or body.get("prompt") or "") + str(body.get("suffix") or "")
            prompt = max(1, len(words) // 4)
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


async def _until_disconnect(receive: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


async def _json(send: Any, status: int, payload: dict[str, Any]) -> None:
    body = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _id(request: StubRequest) -> str:
    prefix = "chatcmpl" if request.path.endswith("chat/completions") else "cmpl"
    return f"{prefix}-{uuid.uuid5(uuid.NAMESPACE_OID, str(id(request))).hex[:24]}"
