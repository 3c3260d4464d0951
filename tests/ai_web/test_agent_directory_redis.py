"""The agent directory on Redis (hubs run with --redis, as in docker-compose.yml): two hubs on one
real redis-server see the same agents and invites. An agent registered through hub A is listed on
hub B, an invite posted on hub B reaches the agent service long-polling hub A, a lease that runs
out frees the name, and the caps hold across hubs."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pycrdt
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from collab.crypto.encoding import fingerprint
from collab.crypto.sealing import public_bytes, seal
from collab.workspace import AGENTS as ROOM_AGENTS
from collab.client.session import Session
from collab.commands.new import create_encrypted_room
from collab.crypto.keys import b64url_encode
from collab.crypto.links import write_link
from collab.hub.agent_directory import MAX_AGENTS, MAX_PENDING_INVITES, AgentRecord
from collab.hub.agent_directory_redis import RedisDirectory
from collab.hub.agents import POSTS_PER_MINUTE
from tests.ai_web.support import AgentProcess
from tests.support.redis_server import RedisServer
from tests.support.hub_process import HubProcess
from tests.support.openai_stub_server import OpenAIStubServer
from tests.support.waiting import eventually


def new_key() -> str:
    return b64url_encode(public_bytes(X25519PrivateKey.generate()))


async def listed(http: httpx.AsyncClient, hub: HubProcess) -> list[dict[str, object]]:
    response = await http.get(f"{hub.url}/api/agents")
    assert response.status_code == 200
    return list(response.json()["agents"])


async def test_agent_on_hub_a_is_listed_on_hub_b_and_joins_from_an_invite_posted_there(
    two_hubs: tuple[HubProcess, HubProcess], tmp_path: Path, stub: OpenAIStubServer, redis_server: RedisServer
) -> None:
    a, b = two_hubs
    keys = create_encrypted_room(b.url)
    agent = AgentProcess(["--serve", "--hub", a.url, "--name", "pair", "--data", str(tmp_path / "agent")], stub)
    try:
        async with httpx.AsyncClient() as http:
            await eventually(lambda: listed(http, b), timeout=20)
            (on_b,) = await listed(http, b)
            (on_a,) = await listed(http, a)
            assert on_a == on_b and on_b["name"] == "pair" and on_b["model"] == "stub-model"
            agent_key = X25519PrivateKey.from_private_bytes((tmp_path / "agent" / "agents" / "pair.x25519").read_bytes())
            assert on_b["fingerprint"] == fingerprint(public_bytes(agent_key))
            async with Session.connect(write_link(b.url, keys), name="ann") as ann:
                posted = await http.post(f"{b.url}/api/agents/pair/invites", json=seal(keys, public_bytes(agent_key)).to_json())
                assert posted.status_code == 202
                # The service long-polls hub A; the invite went into Redis through hub B.
                await eventually(lambda: any("agent" in s for s in ann.peers().values()), 20)
                ann.doc.get(ROOM_AGENTS, type=pycrdt.Map)["pair"] = {"status": "removed", "by": "ann"}
                await eventually(lambda: not any("agent" in s for s in ann.peers().values()), 20)
    finally:
        agent.stop()
    out = agent.output()
    assert "joined room" in out and "removed by a participant" in out
    assert keys.write_secret is not None
    secret = b64url_encode(keys.write_secret)
    assert secret not in out + a.log() + b.log()
    redis_server.cli("save")  # everything Redis holds, on disk, next to its append-only file
    on_disk = b"".join(p.read_bytes() for p in sorted(redis_server.dir.rglob("*")) if p.is_file() and p.suffix != ".log")
    assert secret.encode() not in on_disk and keys.write_secret not in on_disk


async def test_a_long_poll_on_one_hub_returns_an_invite_posted_on_the_other(
    two_hubs: tuple[HubProcess, HubProcess], redis_server: RedisServer
) -> None:
    a, b = two_hubs
    keys = create_encrypted_room(a.url)
    agent = X25519PrivateKey.generate()
    async with httpx.AsyncClient(timeout=30) as http:
        ok = await http.post(f"{a.url}/api/agents", json={"name": "pair", "public_key": b64url_encode(public_bytes(agent))})
        assert ok.status_code == 200
        empty = await http.get(f"{a.url}/api/agents/pair/invites", params={"wait": "0"})
        assert empty.json() == {"invites": [], "last": ""}
        poll = asyncio.create_task(http.get(f"{a.url}/api/agents/pair/invites", params={"wait": "10"}))
        # The poll must be blocked in Redis first: the point is that it wakes up.
        await eventually(lambda: "blocked_clients:1" in redis_server.cli("info", "clients"), what="a blocked XREAD")
        sealed = seal(keys, public_bytes(agent)).to_json()
        posted = await http.post(f"{b.url}/api/agents/pair/invites", json=sealed)
        assert posted.status_code == 202
        got = (await poll).json()
        assert [{k: v for k, v in i.items() if k != "id"} for i in got["invites"]] == [sealed]
        assert got["last"] == posted.json()["id"] == got["invites"][0]["id"]
        # Reading after the last id gives nothing new, from either hub.
        for hub in (a, b):
            again = await http.get(f"{hub.url}/api/agents/pair/invites", params={"after": got["last"], "wait": "0"})
            assert again.json()["invites"] == []


async def test_lease_expiry_unlists_the_agent_on_every_hub_but_the_name_stays_bound_to_its_key(
    two_hubs: tuple[HubProcess, HubProcess], redis_server: RedisServer
) -> None:
    a, b = two_hubs
    first, second = new_key(), new_key()
    async with httpx.AsyncClient() as http:
        registered = await http.post(f"{a.url}/api/agents", json={"name": "pair", "public_key": first})
        assert registered.status_code == 200
        lease_ms = int(redis_server.cli("pttl", "collab:agent:{pair}"))
        assert 0 < lease_ms <= registered.json()["lease_seconds"] * 1000  # the lease is the key's TTL
        taken = await http.post(f"{b.url}/api/agents", json={"name": "pair", "public_key": second})
        assert taken.status_code == 409  # hub B knows the name is held by another key
        renewed = await http.post(f"{b.url}/api/agents", json={"name": "pair", "public_key": first})
        assert renewed.status_code == 200  # the holder renews through any hub
        # The service stopped renewing and its lease ran out (shortened here rather than waited for).
        redis_server.cli("pexpire", "collab:agent:{pair}", "1")
        await eventually(lambda: _none_listed(http, a, b), timeout=10)
        gone = await http.post(f"{b.url}/api/agents/pair/invites", json={})
        assert gone.status_code == 404
        # Nobody else may register the lapsed name (issue 13, finding 8): it is bound to its first key
        # in Redis, for every hub, for much longer than the lease.
        takeover = await http.post(f"{b.url}/api/agents", json={"name": "pair", "public_key": second})
        assert takeover.status_code == 409 and "belongs to another key" in takeover.json()["error"]
        assert int(redis_server.cli("pttl", "collab:agent:{pair}:owner")) > 86_400_000
        back = await http.post(f"{a.url}/api/agents", json={"name": "pair", "public_key": first})
        assert back.status_code == 200
        (now,) = await listed(http, b)
        assert now["public_key"] == first


async def _none_listed(http: httpx.AsyncClient, *hubs: HubProcess) -> bool:
    return all([not await listed(http, hub) for hub in hubs])


async def test_caps_hold_across_hubs(two_hubs: tuple[HubProcess, HubProcess], redis_server: RedisServer) -> None:
    a, b = two_hubs
    keys = create_encrypted_room(a.url)
    agent = X25519PrivateKey.generate()
    async with httpx.AsyncClient() as http:
        assert (await http.post(f"{a.url}/api/agents", json={"name": "pair", "public_key": b64url_encode(public_bytes(agent))})).status_code == 200
        # More invites than an agent keeps pending, posted through both hubs: the newest are kept.
        ids = []
        for n in range(MAX_PENDING_INVITES + 8):
            hub = (a, b)[n % 2]
            posted = await http.post(f"{hub.url}/api/agents/pair/invites", json=seal(keys, public_bytes(agent)).to_json())
            assert posted.status_code == 202, posted.text
            ids.append(posted.json()["id"])
        pending = (await http.get(f"{b.url}/api/agents/pair/invites")).json()["invites"]
        assert [i["id"] for i in pending] == ids[-MAX_PENDING_INVITES:]
        # Each hub also caps POSTs per client address (counted per hub).
        statuses = [(await http.post(f"{a.url}/api/agents/pair/invites", json={})).status_code for _ in range(POSTS_PER_MINUTE)]
        assert statuses[-1] == 429
        refused = await http.post(f"{a.url}/api/agents", json={"name": "other", "public_key": new_key()})
        assert refused.status_code == 429 and "a minute" in refused.json()["error"]

    # A full directory (filled straight into Redis, past the per-client POST cap) refuses newcomers
    # on every hub, while a listed agent still renews.
    directory = RedisDirectory(redis_server.url)
    try:
        for n in range(MAX_AGENTS - 1):
            await directory.register(AgentRecord(f"filler-{n:02d}", new_key(), "m", "builtin", "", False, time.time() + 60))
    finally:
        await directory.close()
    async with httpx.AsyncClient() as http:
        full = await http.post(f"{b.url}/api/agents", json={"name": "one-too-many", "public_key": new_key()})
        assert full.status_code == 507 and str(MAX_AGENTS) in full.json()["error"]
        assert len(await listed(http, b)) == MAX_AGENTS
        renew = await http.post(f"{b.url}/api/agents", json={"name": "pair", "public_key": b64url_encode(public_bytes(agent))})
        assert renew.status_code == 200


async def test_one_name_raced_from_two_hubs_goes_to_one_key(two_hubs: tuple[HubProcess, HubProcess]) -> None:
    a, b = two_hubs
    names = [f"race-{n}" for n in range(12)]
    async with httpx.AsyncClient() as http:
        keys = {name: (new_key(), new_key()) for name in names}
        replies = await asyncio.gather(*(
            http.post(f"{hub.url}/api/agents", json={"name": name, "public_key": keys[name][i]})
            for name in names for i, hub in enumerate((a, b))
        ))
        listed_keys = {agent["name"]: agent["public_key"] for agent in await listed(http, b)}
    for n, name in enumerate(names):
        first, second = replies[2 * n], replies[2 * n + 1]
        assert sorted([first.status_code, second.status_code]) == [200, 409], name
        winner = first if first.status_code == 200 else second
        assert listed_keys[name] == winner.json()["public_key"]  # whoever got 200 really holds the name
