"""Connecting while Redis is down: a retryable close for both kinds of room, never an HTTP 500."""

from __future__ import annotations

from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from collab.protocol import relay_frames
from tests.support.hub_process import start_hub
from tests.support.redis_server import RedisServer


@pytest.mark.parametrize("subprotocols", [None, [relay_frames.SUBPROTOCOL]], ids=["plaintext", "encrypted"])
async def test_a_client_connecting_while_redis_is_down_is_told_to_try_again(
    tmp_path: Path, redis_server: RedisServer, subprotocols: list[str] | None
) -> None:
    hub = start_hub(tmp_path, "hub", redis_server.url)
    try:
        redis_server.kill()
        async with connect(f"{hub.ws_url}/ws/some-room", subprotocols=subprotocols, open_timeout=10) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
        assert "try again" in closed.value.rcvd.reason
        assert "Exception in ASGI application" not in hub.log()
    finally:
        hub.stop()
