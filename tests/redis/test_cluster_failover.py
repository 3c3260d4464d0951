"""A Redis Cluster master dies while people type: its replica takes over and nothing is lost.

Three masters with one replica each, all real redis-server processes. The master that owns the
room's slot is killed with SIGKILL mid-typing; the cluster promotes its replica. The hubs must
follow the new topology by themselves (store and sharded pub/sub), the typists must converge on
everything anyone typed, and a brand-new hub must read the whole room back from the cluster.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

import pycrdt
import pytest

from tests.support.hub_process import start_hub
from tests.redis.reconnecting import ReconnectingClient, Typists, marks
from tests.support.redis_server import RedisServer, cluster_ok, redis_available, running_cluster
from tests.redis.test_cluster import owner
from tests.support.yclient import pycrdt_client
from tests.support.waiting import eventually


def promoted_owner(survivors: list[RedisServer], room: str) -> RedisServer | None:
    try:
        return owner(survivors, f"collab:{{{room}}}:log")
    except AssertionError:
        return None


@pytest.fixture
def replicated_cluster(tmp_path: Path) -> Iterator[list[RedisServer]]:
    why = redis_available()
    if why:
        pytest.skip(why)
    # Wait until every replica is attached and in sync, so a failover has someone to promote.
    with running_cluster(tmp_path, masters=3, replicas_per_master=1) as nodes:
        yield nodes


async def test_a_master_dies_mid_typing_and_its_replica_takes_over(
    tmp_path: Path, replicated_cluster: list[RedisServer]
) -> None:
    nodes = replicated_cluster
    room = "failover"
    master = owner(nodes, f"collab:{{{room}}}:log")
    survivors = [n for n in nodes if n is not master]
    a = start_hub(tmp_path, "hub-a", survivors[0].url)
    b = start_hub(tmp_path, "hub-b", survivors[1].url)
    try:
        urls = [f"{a.ws_url}/ws/{room}", f"{b.ws_url}/ws/{room}"]
        clients = [ReconnectingClient([urls[i % 2], urls[(i + 1) % 2]]) for i in range(4)]
        async with contextlib.AsyncExitStack() as stack:
            for client in clients:
                await stack.enter_async_context(client.running())
            typists = Typists(clients)
            typists.start()
            await eventually(lambda: all(len(t) >= 20 for t in typists.typed), timeout=20)
            master.kill()
            acknowledged = typists.received()
            # Survivors only notice after the node timeout (2 s); then the replica is promoted.
            await eventually(lambda: promoted_owner(survivors, room) and cluster_ok(survivors), timeout=30,
                             interval=0.2, what="the cluster promoting the replica")
            # Typing goes on after the failover and reaches everyone, on both hubs.
            await eventually(lambda: all(len(t) >= 120 for t in typists.typed), timeout=30)
            await typists.stop()
            final = await typists.converge(timeout=40)
            assert acknowledged <= marks(final)
        # Durable in the cluster, not only in the hubs' memory: a hub that never saw the room
        # reads all of it from the promoted replica.
        c = start_hub(tmp_path, "hub-c", survivors[2].url)
        try:
            async with pycrdt_client(f"{c.ws_url}/ws/{room}") as fresh:
                fresh_text = fresh.get("code", type=pycrdt.Text)
                await eventually(lambda: str(fresh_text) == final, timeout=20)
        finally:
            c.stop()
    finally:
        a.stop()
        b.stop()
