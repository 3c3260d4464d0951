"""Where a lean Redis connection goes (collab.redis.script_link, collab.redis.pubsub_link).

One server, from a ``redis://`` or ``unix://`` URL as redis-py parses it: host and port or a socket
path, the credentials for AUTH, the database for SELECT. Opening it is the only I/O here.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Callable, TypeVar

from redis.asyncio.connection import parse_url

P = TypeVar("P", bound=asyncio.Protocol)


@dataclass(frozen=True, slots=True)
class Address:
    host: str = "localhost"
    port: int = 6379
    path: str | None = None  # a unix socket: host and port are not used
    username: str | None = None
    password: str | None = None
    db: int = 0

    @classmethod
    def from_url(cls, url: str) -> "Address":
        params = parse_url(url)
        return cls(host=params.get("host", "localhost"), port=int(params.get("port", 6379)),
                   path=params.get("path"), username=params.get("username"),
                   password=params.get("password"), db=int(params.get("db", 0) or 0))

    def auth(self) -> tuple[str, ...] | None:
        """The AUTH command this server needs, or None."""
        if self.password is None:
            return None
        return ("AUTH", self.username, self.password) if self.username else ("AUTH", self.password)

    async def open(self, protocol: Callable[[], P]) -> P:
        """Connect (the caller bounds the time) and return the protocol instance."""
        loop = asyncio.get_running_loop()
        if self.path is not None:
            _, proto = await loop.create_unix_connection(protocol, self.path)
        else:
            _, proto = await loop.create_connection(protocol, self.host, self.port)
        return proto
