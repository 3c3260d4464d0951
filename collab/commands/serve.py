"""`collab serve`: run a hub (embedded SQLite by default, Redis with --redis)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import socket
import sys

from typing import Callable

import uvicorn

from collab.config import env_name, load_settings
from collab.hub.admission import connection_limits, fd_limit
from collab.hub.app import create_app
from collab.hub.log_limit import RepeatFilter
from collab.hub.tcp_guard import TcpGuard, guarded_protocols

log = logging.getLogger(__name__)

HELP = "run a hub: websocket rooms, HTTP API, the web client"


def add_arguments(p: argparse.ArgumentParser) -> None:
    def env(name: str) -> str:
        return f" (env {env_name(name)})"

    p.add_argument("--host", help="address to bind, default 127.0.0.1" + env("host"))
    p.add_argument("--port", type=int, help="port to bind, default 8000; 0 picks a free one" + env("port"))
    p.add_argument("--data", help="data directory for the SQLite store, default a per-user folder" + env("data"))
    p.add_argument("--redis", dest="redis_url", help="share rooms with other hubs through Redis" + env("redis_url"))
    p.add_argument("--max-frame-bytes", type=int, help="largest websocket frame accepted" + env("max_frame_bytes"))
    p.add_argument(
        "--send-buffer-bytes", type=int, help="bytes queued for a slow client before it is dropped" + env("send_buffer_bytes")
    )
    p.add_argument(
        "--max-presence-bytes", type=int,
        help="bytes of presence state one connection may hold, default 65536" + env("max_presence_bytes"),
    )
    p.add_argument(
        "--max-presence-clients", type=int,
        help="client ids one plaintext connection's presence may name, default 8" + env("max_presence_clients"),
    )
    p.add_argument(
        "--presence-updates-per-second", type=float,
        help="presence updates relayed a second per connection (more are coalesced), 0 for no limit; default 10"
        + env("presence_updates_per_second"),
    )
    p.add_argument(
        "--max-snapshot-bytes", type=int,
        help="largest encrypted-room snapshot, sent in parts; default 268435456" + env("max_snapshot_bytes"),
    )
    p.add_argument(
        "--allowed-origins", help="comma-separated extra browser origins allowed to connect" + env("allowed_origins")
    )
    p.add_argument(
        "--require-room-creation",
        action="store_const",
        const=True,
        help="plaintext rooms must be created with POST /api/rooms first" + env("require_room_creation"),
    )
    p.add_argument(
        "--max-rooms-per-ip-per-minute", type=int,
        help="rooms one client address may create by POST /api/rooms a minute, 0 for no limit; default 30"
        + env("max_rooms_per_ip_per_minute"),
    )
    add_limit_arguments(p, env)
    p.add_argument("--compact-after", type=int, help="compact a room after this many log entries" + env("compact_after"))
    p.add_argument(
        "--room-idle-seconds", type=float, help="unload rooms idle for this long" + env("room_idle_seconds")
    )
    p.add_argument(
        "--sqlite-synchronous",
        choices=["NORMAL", "FULL"],
        help="NORMAL survives a crash of the hub, FULL also power loss (an fsync per commit)" + env("sqlite_synchronous"),
    )
    p.add_argument("--log-level", help="debug, info, warning, error" + env("log_level"))


# The hub's connection limits (issue 13): flags named after their settings.
LIMITS = (
    ("handshake_timeout_seconds", float, "seconds to send the HTTP request, and an encrypted websocket its HELLO; default 10"),
    ("idle_timeout_seconds", float, "close a websocket that sends nothing this long, 0 for never; default 300"),
    ("max_connections_per_ip", int, "websockets at once from one client address, 0 for no limit; default 256"),
    ("max_connections", int, "websockets at once in all; default 0: what ulimit -n allows, less a share for HTTP"),
    ("max_write_bytes_per_second", int, "bytes a second one connection may write after its burst, 0 for no limit; "
     "default 1048576"),
    ("write_burst_bytes", int, "bytes one connection may write at once; default 67108864"),
    ("max_room_write_bytes_per_second", int, "bytes a second all connections of a room may write after its burst, "
     "0 for no limit; default 2097152"),
    ("room_write_burst_bytes", int, "bytes all connections of a room may write at once; default 134217728"),
)


def add_limit_arguments(p: argparse.ArgumentParser, env: Callable[[str], str]) -> None:
    for name, kind, text in LIMITS:
        p.add_argument("--" + name.replace("_", "-"), type=kind, help=text + env(name))
    p.add_argument(
        "--allowed-hosts",
        help="comma-separated Host names the hub answers to besides localhost, IP addresses, --host and the "
        "--allowed-origins' hosts ('*': any)" + env("allowed_hosts"),
    )


def run(args: argparse.Namespace) -> int:
    overrides = {
        k: v
        for k, v in vars(args).items()
        if k in ("host", "port", "redis_url", "max_frame_bytes", "send_buffer_bytes", "require_room_creation",
                 "max_rooms_per_ip_per_minute", "compact_after", "max_presence_bytes", "max_presence_clients",
                 "presence_updates_per_second", "max_snapshot_bytes", "room_idle_seconds", "log_level", "sqlite_synchronous")
    }
    if args.data:
        from pathlib import Path

        overrides["data"] = Path(args.data).expanduser()
    if args.allowed_origins:
        overrides["allowed_origins"] = tuple(o.strip() for o in args.allowed_origins.split(",") if o.strip())
    overrides.update((name, getattr(args, name)) for name, _, _ in LIMITS)
    if args.allowed_hosts:
        overrides["allowed_hosts"] = tuple(h.strip() for h in args.allowed_hosts.split(",") if h.strip())
    settings = load_settings(overrides)
    level = settings.log_level.upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return asyncio.run(serve(settings))


async def serve(settings) -> int:  # type: ignore[no-untyped-def]
    app = create_app(settings)
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    # proto must say TCP: asyncio only disables Nagle on accepted sockets whose proto is IPPROTO_TCP,
    # and with Nagle on, small frames wait for delayed ACKs (a 40 ms p99 floor, measured by bench/).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((settings.host, settings.port))
    except OSError as exc:
        print(f"collab: cannot listen on {settings.host}:{settings.port}: {exc.strerror}", file=sys.stderr)
        return 1
    guard = TcpGuard(max_open=connection_limits(fd_limit())[0], handshake_s=settings.handshake_timeout_seconds)
    http_protocol, ws_protocol = guarded_protocols(guard)
    config = uvicorn.Config(
        app,
        log_level=settings.log_level.lower(),
        access_log=False,
        http=http_protocol,
        ws=ws_protocol,  # websockets-sansio
        ws_max_size=settings.max_frame_bytes,
        ws_per_message_deflate=False,
        ws_ping_interval=20.0,
        ws_ping_timeout=20.0,
        # We run the app's lifespan around the server ourselves (below), so a store that cannot be
        # opened is one line on stderr instead of uvicorn's "Application startup failed" traceback.
        lifespan="off",
        timeout_graceful_shutdown=10,
    )
    # uvicorn logs a few lines per websocket and asyncio one per failed accept: at most one line of
    # each kind per interval, with a count (collab.hub.log_limit).
    for name in ("uvicorn.error", "asyncio"):
        logging.getLogger(name).addFilter(RepeatFilter())
    server = GracefulServer(config)
    async with contextlib.AsyncExitStack() as stack:
        try:
            await stack.enter_async_context(app.router.lifespan_context(app))
        except Exception as exc:
            log.debug("startup failed", exc_info=True)
            print(f"collab serve: cannot start: {_startup_reason(exc, settings)}", file=sys.stderr)
            sock.close()
            return 1
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not task.done():
            await asyncio.sleep(0.02)
        if server.started:
            host, port = sock.getsockname()[:2]
            print(f"collab hub ready at {_ready_url(host, port)} (store: {_store_label(settings)})", flush=True)
        await task
    return 0 if server.started else 1


def _ready_url(host: str, port: int) -> str:
    """The URL to open: a wildcard bind is reachable on loopback, and 0.0.0.0 is no address to visit."""
    if host in ("0.0.0.0", "::"):
        loopback = "127.0.0.1" if host == "0.0.0.0" else "[::1]"
        return f"http://{loopback}:{port} (listening on every interface, {host})"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _store_label(settings) -> str:  # type: ignore[no-untyped-def]
    return "redis " + _redact(settings.redis_url) if settings.redis_url else f"sqlite {settings.sqlite_path}"


def _startup_reason(exc: BaseException, settings) -> str:  # type: ignore[no-untyped-def]
    """One line that says what failed; Redis passwords never appear (redis-py errors may echo the URL)."""
    reason = str(exc) or type(exc).__name__
    if isinstance(exc, (FileExistsError, NotADirectoryError)) and not settings.redis_url:
        reason = f"the data directory {settings.data} is not a directory (or a file is in its path)"
    elif isinstance(exc, OSError) and exc.filename:
        reason = f"{exc.strerror or reason}: {exc.filename}"
    if settings.redis_url:
        reason = reason.replace(settings.redis_url, _redact(settings.redis_url))
    return reason


class GracefulServer(uvicorn.Server):
    """SIGTERM/SIGINT drain the hub (close 1012, flush the store) and then exit with status 0.

    uvicorn re-raises the captured signal after a graceful shutdown, which makes a clean stop look
    like a crash to supervisors; a drained hub has nothing left to report.
    """

    def capture_signals(self):  # type: ignore[no-untyped-def]
        inner = super().capture_signals()

        @contextlib.contextmanager
        def without_reraise():  # type: ignore[no-untyped-def]
            with inner:
                yield
                self._captured_signals.clear()

        return without_reraise()


def _redact(url: str | None) -> str:
    """Never print a Redis password."""
    from urllib.parse import urlsplit, urlunsplit

    if not url:
        return ""
    parts = urlsplit(url)
    if parts.password:
        netloc = f"{parts.username or ''}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    return url
