"""Connecting to Redis or a Redis Cluster: the URL, our ``cluster=`` option, the client options.

Every Redis client collab opens comes from here, so all of them share one policy: a deadline on
every round trip and no automatic retries (a retried append script could run twice; callers decide
what to redo).
"""

from __future__ import annotations

import asyncio
from typing import Final, Union
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from redis.asyncio import Redis, RedisCluster
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from collab.config import ConfigError
from collab.store.base import StoreUnavailable

Client = Union[Redis, RedisCluster]

# Round trips that take longer than this fail: an append never hangs forever.
OP_TIMEOUT: Final = 5.0
CONNECT_TIMEOUT: Final = 2.0
# Failures that mean "Redis is away" (as opposed to Redis answering with an error).
UNREACHABLE: Final = (RedisConnectionError, RedisTimeoutError, OSError, asyncio.TimeoutError)
# Any failure of a round trip: Redis refused, is away, or did not answer in time.
FAILED: Final = (RedisError, OSError, asyncio.TimeoutError)


def split_url(url: str) -> tuple[str, bool | None]:
    """Our own ``cluster=yes|no`` URL option, removed before redis-py sees the URL.

    None means "ask the server" (INFO cluster), which is what most setups want.
    """
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    cluster: bool | None = None
    kept = []
    for name, value in query:
        if name == "cluster":
            if value.lower() in ("1", "yes", "true", "on"):
                cluster = True
            elif value.lower() in ("0", "no", "false", "off"):
                cluster = False
            else:
                raise ConfigError(f"the Redis URL's cluster= option must be yes or no, got {value!r}")
        else:
            kept.append((name, value))
    return urlunsplit(parts._replace(query=urlencode(kept))), cluster


def node_url(url: str, host: str | None = None, port: int | None = None) -> str:
    """``url`` without our options, pointed at one cluster node (credentials and TLS kept)."""
    plain = urlsplit(split_url(url)[0])
    if host is None:
        return urlunsplit(plain)
    userinfo = plain.netloc.rpartition("@")[0]
    netloc = (userinfo + "@" if userinfo else "") + (f"[{host}]" if ":" in host else host) + f":{port}"
    return urlunsplit(plain._replace(netloc=netloc))


def server_client(url: str) -> Redis:
    """A client for one Redis server (or one cluster node) at ``url``, which has no ``cluster=``."""
    return Redis.from_url(
        url,
        socket_timeout=OP_TIMEOUT,
        socket_connect_timeout=CONNECT_TIMEOUT,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=5,
    )


def cluster_client(url: str) -> RedisCluster:
    # No retry or health-check options: the cluster client retries by re-reading the topology.
    return RedisCluster.from_url(url, socket_timeout=OP_TIMEOUT, socket_connect_timeout=CONNECT_TIMEOUT)


async def connect(url: str) -> Client:
    """A client for a single Redis or a Redis Cluster (detected, or forced with ``?cluster=yes``).

    Raises StoreUnavailable when Redis cannot be reached, ConfigError for a bad ``cluster=``.
    """
    plain_url, cluster = split_url(url)
    if cluster is None:
        probe = server_client(plain_url)
        try:
            info = await asyncio.wait_for(probe.info("cluster"), OP_TIMEOUT)
            cluster = bool(int(info.get("cluster_enabled", 0)))
        except FAILED as exc:
            raise StoreUnavailable(f"cannot reach Redis: {exc}") from exc
        finally:
            await probe.aclose()
    if not cluster:
        return server_client(plain_url)
    client = cluster_client(plain_url)
    try:
        await asyncio.wait_for(client.initialize(), OP_TIMEOUT)
    except FAILED as exc:
        await client.aclose()
        raise StoreUnavailable(f"cannot reach the Redis cluster: {exc}") from exc
    return client
