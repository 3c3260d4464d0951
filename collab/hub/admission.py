"""Which websockets the hub takes, and how long one may take to say hello or stay silent.

Before this, 1,200 idle or half-open sockets stayed open for good, and under ``ulimit -n 1024``
1,050 idle connections left no file descriptor for /healthz. Now:

- **caps**: at most ``max_connections_per_ip`` websockets per client address (as the app sees it:
  behind a trusted proxy, from X-Forwarded-For, like every per-address limit) and
  ``max_connections`` in all, by default what the file-descriptor limit allows less a share kept
  for HTTP requests, so /healthz still answers at the cap. A refused upgrade gets HTTP 429 (the
  address is at its cap) or 503 (the hub is), before anything is accepted.
- **handshake timeout**: an encrypted websocket sends HELLO within ``handshake_timeout_seconds``
  (plaintext rooms have no handshake past the upgrade). The TCP side, a request that never
  completes, is ``collab.hub.tcp_guard``'s.
- **idle timeout**: a websocket that sends no frame for ``idle_timeout_seconds`` is closed with
  TIMED_OUT. Pings do not count: uvicorn answers them without the app, and its own pings (every
  20 s, 20 s to answer) only close peers that stopped answering. Every collab client renews its
  presence every 15 s (browsers in a background tab at least once a minute, timers throttled), as
  y-protocols clients do, so only a client that holds a socket and says nothing is closed.

One timer for the whole hub, armed while connections are watched: a connection costs no timer.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from dataclasses import dataclass
from typing import TYPE_CHECKING

from collab.config import ConfigError, Settings
from collab.hub.write_quota import WriteQuota
from collab.protocol import close_codes

if TYPE_CHECKING:
    from collab.hub.connection import Connection

log = logging.getLogger(__name__)

# File descriptors the hub needs besides its sockets: stdio, the event loop, the listening socket and
# the store (a running hub on SQLite holds 11 in all; Redis adds its connection pool).
RESERVED_FDS = 64
UNLIMITED_FDS = 1 << 20


def fd_limit() -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return UNLIMITED_FDS if soft == resource.RLIM_INFINITY else soft


def connection_limits(fds: int) -> tuple[int, int]:
    """(TCP connections, websockets) a process with ``fds`` file descriptors holds, leaving spares.

    The TCP limit keeps accept() from ever failing for want of a descriptor; websockets stop a
    twentieth (at least 16) below it, so HTTP requests such as health checks still get through.
    """
    tcp = max(16, fds - RESERVED_FDS)
    return tcp, max(8, tcp - max(16, tcp // 20))


@dataclass(frozen=True)
class Refusal:
    status: int  # the HTTP status the upgrade is refused with
    reason: str


class Admission:
    def __init__(self, settings: Settings, *, fds: int | None = None) -> None:
        fds = fd_limit() if fds is None else fds
        _, websockets = connection_limits(fds)
        if settings.max_connections > websockets:
            raise ConfigError(
                f"max-connections {settings.max_connections} needs more file descriptors than this process "
                f"may open (ulimit -n is {fds}, which allows {websockets} websockets): raise ulimit -n"
            )
        self.max_total = settings.max_connections or websockets
        self.max_per_ip = settings.max_connections_per_ip
        self.handshake_s = settings.handshake_timeout_seconds
        self.idle_s = settings.idle_timeout_seconds
        self.quota = WriteQuota(
            connection_rate=settings.max_write_bytes_per_second,
            connection_burst=settings.write_burst_bytes,
            room_rate=settings.max_room_write_bytes_per_second,
            room_burst=settings.room_write_burst_bytes,
        )
        self.open = 0
        self._by_address: dict[str, int] = {}
        # Connections still owing their handshake, by deadline; all get the same timeout, so the
        # insertion order is the deadline order and a sweep stops at the first one not due.
        self._handshaking: dict[Connection, float] = {}
        self._watched: set[Connection] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._next_idle_sweep = 0.0
        self._tick = min(1.0, self.handshake_s / 4, self.idle_s / 10 if self.idle_s else 1.0)

    # -- caps -------------------------------------------------------------------------------------

    def admit(self, address: str) -> Refusal | None:
        """Count a websocket from ``address``, or say why it is refused (then nothing is counted)."""
        if self.open >= self.max_total:
            return Refusal(503, f"the hub is at its connection limit ({self.max_total}); try again later")
        count = self._by_address.get(address, 0)
        if self.max_per_ip and count >= self.max_per_ip:
            return Refusal(429, f"too many connections from your address: at most {self.max_per_ip} at once")
        self._by_address[address] = count + 1
        self.open += 1
        return None

    def release(self, address: str) -> None:
        """A websocket ``admit`` counted has ended."""
        self.open -= 1
        count = self._by_address.get(address, 0) - 1
        if count > 0:
            self._by_address[address] = count
        else:
            self._by_address.pop(address, None)

    # -- timeouts ---------------------------------------------------------------------------------

    def watch(self, conn: Connection) -> None:
        """Time ``conn`` from now: its handshake (until ``handshake_done``) and its silences."""
        now = asyncio.get_running_loop().time()
        conn.last_received = now
        self._watched.add(conn)
        self._handshaking[conn] = now + self.handshake_s
        self._arm()

    def handshake_done(self, conn: Connection) -> None:
        self._handshaking.pop(conn, None)

    def forget(self, conn: Connection) -> None:
        self._watched.discard(conn)
        self._handshaking.pop(conn, None)

    def _arm(self) -> None:
        if self._timer is None and self._watched:
            self._timer = asyncio.get_running_loop().call_later(self._tick, self._sweep)

    def _sweep(self) -> None:
        self._timer = None
        now = asyncio.get_running_loop().time()
        while self._handshaking:
            conn, deadline = next(iter(self._handshaking.items()))
            if deadline > now:
                break
            del self._handshaking[conn]
            self._time_out(conn, f"no handshake (HELLO) within {self.handshake_s:g} s")
        if self.idle_s and now >= self._next_idle_sweep:
            # Every idle timeout / 10: a silent connection goes at most 10% late, and the scan over
            # every connection stays rare.
            self._next_idle_sweep = now + self.idle_s / 10
            cutoff = now - self.idle_s
            for conn in [c for c in self._watched if c.last_received < cutoff]:
                self._time_out(conn, f"nothing received for {self.idle_s:g} s")
        self._arm()

    def _time_out(self, conn: Connection, why: str) -> None:
        self._watched.discard(conn)
        conn.log(log, logging.INFO, "timeout", "closing %r: %s", conn, why)
        conn.abort(close_codes.TIMED_OUT, f"timed out: {why}")
