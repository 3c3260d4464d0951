from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from tests.redis.servers import RedisServer, redis_available
from tests.support.hub_process import HubProcess


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    why = redis_available()
    if why:
        pytest.skip(why)
    server = RedisServer(tmp_path / "redis").start()
    try:
        yield server
    finally:
        server.stop()


def start_hub(tmp_path: Path, name: str, redis_url: str, *args: str, port: int = 0) -> HubProcess:
    return HubProcess(tmp_path / name, "--redis", redis_url, "--room-idle-seconds", "0.5", *args, port=port).start()


@pytest.fixture
def two_hubs(tmp_path: Path, redis_server: RedisServer) -> Iterator[tuple[HubProcess, HubProcess]]:
    a = start_hub(tmp_path, "hub-a", redis_server.url)
    b = start_hub(tmp_path, "hub-b", redis_server.url)
    try:
        yield a, b
    finally:
        a.stop()
        b.stop()
