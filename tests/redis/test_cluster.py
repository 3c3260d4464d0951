"""A real 3-node Redis Cluster (loopback ports): rooms spread over nodes, hubs use sharded pub/sub."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

import pycrdt
import pytest

from tests.support.hub_process import start_hub
from tests.support.redis_server import RedisServer, redis_available, running_cluster
from tests.support.yclient import pycrdt_client
from tests.support.waiting import eventually


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[list[RedisServer]]:
    why = redis_available()
    if why:
        pytest.skip(why)
    with running_cluster(tmp_path, masters=3) as nodes:
        yield nodes


def owner(nodes: list[RedisServer], key: str) -> RedisServer:
    slot = int(nodes[0].cli("cluster", "keyslot", key))
    for node in nodes:
        for line in node.cli("cluster", "nodes").splitlines():
            fields = line.split()
            if "myself" in fields[2]:
                for span in fields[8:]:
                    lo, _, hi = span.partition("-")
                    if int(lo) <= slot <= int(hi or lo):
                        return node
    raise AssertionError(f"no node owns slot {slot}")


async def test_two_hubs_on_a_cluster_share_rooms_on_every_node(tmp_path: Path, cluster: list[RedisServer]) -> None:
    rooms = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"]
    owners = {owner(cluster, f"collab:{{{room}}}:log").port for room in rooms}
    assert len(owners) >= 2, "the rooms should land on different nodes"
    # The URL names one node; the hubs find the others (cluster mode is detected, not configured).
    a = start_hub(tmp_path, "hub-a", cluster[0].url)
    b = start_hub(tmp_path, "hub-b", cluster[1].url)
    try:
        async with contextlib.AsyncExitStack() as stack:
            pairs = []
            for room in rooms:
                left = await stack.enter_async_context(pycrdt_client(f"{a.ws_url}/ws/{room}"))
                right = await stack.enter_async_context(pycrdt_client(f"{b.ws_url}/ws/{room}"))
                pairs.append((room, left, right))
            for room, left, right in pairs:
                left.get("code", type=pycrdt.Text).insert(0, f"{room} from a;")
                right.get("code", type=pycrdt.Text).insert(0, f"{room} from b;")
            for room, left, right in pairs:
                lt, rt = left.get("code", type=pycrdt.Text), right.get("code", type=pycrdt.Text)
                await eventually(lambda: f"{room} from a;" in str(rt) and f"{room} from b;" in str(lt))
                assert str(lt) == str(rt)
            for room in rooms:
                node = owner(cluster, f"collab:{{{room}}}:relay")
                # Sharded pub/sub: the room's channel lives on the node that owns its keys.
                assert f"collab:{{{room}}}:relay" in node.cli("pubsub", "shardchannels")
                assert int(node.cli("xlen", f"collab:{{{room}}}:log")) == 2
        # A joiner after everyone left reads the room back from the cluster.
        async with pycrdt_client(f"{a.ws_url}/ws/{rooms[0]}") as late:
            text = late.get("code", type=pycrdt.Text)
            await eventually(lambda: "alpha from a;" in str(text) and "alpha from b;" in str(text))
        for hub in (a, b):
            # Fan-out went over sharded pub/sub, not through the stream catch-up safety net.
            assert "publishing" not in hub.log() and "missed entries" not in hub.log(), hub.log()
    finally:
        a.stop()
        b.stop()
