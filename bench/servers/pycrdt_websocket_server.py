"""pycrdt-websocket 0.16 ASGIServer on uvicorn, bound to HOST:PORT (default 127.0.0.1:1234).

Rooms are named by the request path (/ws/<room>); rooms are created on first join and
removed when their last client leaves (auto_clean_rooms, the library default).
"""

import logging
import os
from contextlib import asynccontextmanager

import uvicorn
from pycrdt.websocket import ASGIServer, WebsocketServer
from pycrdt.websocket.websocket_server import exception_logger

websocket_server = WebsocketServer(exception_handler=exception_logger)


@asynccontextmanager
async def lifespan(app):
    async with websocket_server:
        yield


class App:
    def __init__(self) -> None:
        self.asgi = ASGIServer(websocket_server)

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            message = await receive()
            assert message["type"] == "lifespan.startup"
            self._ctx = lifespan(self)
            await self._ctx.__aenter__()
            await send({"type": "lifespan.startup.complete"})
            message = await receive()
            await self._ctx.__aexit__(None, None, None)
            await send({"type": "lifespan.shutdown.complete"})
            return
        await self.asgi(scope, receive, send)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    uvicorn.run(
        App(),
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "1234")),
        log_level="warning",
    )
