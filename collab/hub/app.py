"""The Starlette application factory: one Hub per app, no module-level state."""

from __future__ import annotations

import contextlib
from typing import AsyncIterator, Awaitable

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from collab.broker.base import Broker
from collab.broker.memory import MemoryBroker
from collab.config import Settings
from collab.hub import api
from collab.protocol import relay_frames
from collab.hub.admission import Admission
from collab.hub.agent_directory import directory_for
from collab.hub.agents import agent_routes, post_limiter
from collab.hub.endpoint import SessionHandler, websocket_endpoint
from collab.hub.hub import Hub
from collab.hub.log_limit import LogLimit
from collab.hub.origin import HostCheckMiddleware, OriginCheckMiddleware, allowed_hosts
from collab.hub.rate_limit import TokenBuckets
from collab.hub.shortcut import ShortcutStarlette
from collab.hub.web import SecurityHeadersMiddleware, web_routes
from collab.store.base import RoomInfo, Store


def default_store(settings: Settings) -> Store:
    if settings.redis_url:
        from collab.hub.replay import replay  # the hub's Yjs merge, for compaction of shared logs
        from collab.store.redis import RedisStore  # imported lazily: embedded users never need it

        return RedisStore(settings.redis_url, merge=replay)
    from collab.store.sqlite import SQLiteStore

    return SQLiteStore(settings.sqlite_path, synchronous=settings.sqlite_synchronous.upper())


def default_broker(settings: Settings, store: Store | None = None) -> Broker:
    if settings.redis_url:
        from collab.broker.redis import RedisBroker
        from collab.store.redis import RedisStore

        # The store's appends on the same Redis publish themselves: one round trip for both.
        appends = store if isinstance(store, RedisStore) and store.url == settings.redis_url else None
        return RedisBroker(settings.redis_url, appends=appends)
    return MemoryBroker()


def session_handlers() -> dict[str, SessionHandler]:
    """Room protocols other than y-websocket, by websocket subprotocol.

    The encrypted relay is imported on its first connection: it pulls in OpenSSL (about 8 MB of
    RSS), which a hub that only serves plaintext rooms never needs.
    """

    # Not async: it returns the real handler's coroutine, so no wrapper frame stays alive for the
    # life of every encrypted connection.
    def serve_encrypted(hub: Hub, ws: WebSocket, name: str, info: RoomInfo | None) -> Awaitable[None]:
        from collab.hub.encrypted import serve_encrypted as serve

        return serve(hub, ws, name, info)

    return {relay_frames.SUBPROTOCOL: serve_encrypted}


def create_app(settings: Settings, *, store: Store | None = None, broker: Broker | None = None) -> Starlette:
    store = store or default_store(settings)
    hub = Hub(settings, store, broker or default_broker(settings, store))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await hub.start()
        try:
            yield
        finally:
            await app.state.agents.close()
            await hub.stop()

    routes = [
        Route("/healthz", api.healthz),
        Route("/metrics", api.metrics),
        Route("/api/rooms", api.create_room, methods=["POST"]),
        Route("/api/rooms/{room}", api.room_info),
        *agent_routes(),
        WebSocketRoute("/ws/{room}", websocket_endpoint),
        *web_routes(),
    ]
    hosts = allowed_hosts(settings.host, settings.allowed_origins, settings.allowed_hosts)
    # Websockets skip Starlette's middleware and router: see collab.hub.shortcut.
    middleware = [
        Middleware(SecurityHeadersMiddleware),
        Middleware(HostCheckMiddleware, allowed=hosts),
        Middleware(OriginCheckMiddleware, allowed=settings.allowed_origins),
    ]
    app = ShortcutStarlette(routes=routes, lifespan=lifespan, middleware=middleware)
    app.state.hub = hub
    app.state.session_handlers = session_handlers()
    app.state.agents = directory_for(settings)
    app.state.agent_posts = post_limiter()
    app.state.room_creations = TokenBuckets(settings.max_rooms_per_ip_per_minute)
    # Websockets: Host names, connection caps, timeouts, write quotas (collab.hub.endpoint), and one
    # line per interval for each kind of refused upgrade.
    app.state.allowed_hosts = hosts
    app.state.admission = Admission(settings)
    app.state.refusal_log = LogLimit()
    return app
