"""The agent directory: which AI agent services are running, and the sealed invites waiting for them.

A registration is a name, an X25519 public key and what the service runs, kept alive by a lease the
service renews. Unless the hub requires an agent token, a name also stays bound to the key that first
registered it (collab.hub.agent_names), so nobody else can take it over when the lease runs out. Invites are opaque sealed blobs (collab/crypto/sealing.py) the hub only stores and
hands out. Two implementations behind one interface: in memory (one hub) here, and Redis (hubs
behind a load balancer share agents and invites) in collab.hub.agent_directory_redis.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any, Callable, Protocol

from collab.config import Settings
from collab.crypto.encoding import b64url_decode, fingerprint
from collab.hub.agent_names import NameBindings

MAX_AGENTS = 64
MAX_PENDING_INVITES = 32
LEASE_SECONDS = 60.0  # a service renews every LEASE_SECONDS / 3
INVITE_TTL_SECONDS = 600.0
AGENT_NAMES_FILE = "agent-names.json"  # in the data directory


class NameTaken(Exception):
    """The name is held by a live agent with another key (``running``), or bound to another key."""

    def __init__(self, name: str, *, running: bool) -> None:
        super().__init__(name)
        self.name = name
        self.running = running


class DirectoryFull(Exception):
    pass


@dataclass(frozen=True)
class AgentRecord:
    name: str
    public_key: str  # base64url, 32 bytes (X25519)
    model: str
    backend: str
    description: str
    local: bool
    expires: float

    def public(self) -> dict[str, Any]:
        out = asdict(self)
        out["fingerprint"] = fingerprint(b64url_decode(self.public_key))
        del out["expires"]
        return out


class AgentDirectory(Protocol):
    async def register(self, record: AgentRecord) -> None:
        """List ``record`` until ``record.expires``; NameTaken or DirectoryFull if it cannot be."""
        ...

    async def agents(self) -> list[AgentRecord]: ...

    async def get(self, name: str) -> AgentRecord | None: ...

    async def post_invite(self, name: str, invite: dict[str, str]) -> str:
        """Queue ``invite`` for agent ``name``; returns its id (ids increase)."""
        ...

    async def invites(self, name: str, after: str, wait: float) -> list[dict[str, str]]:
        """Invites after id ``after``, waiting up to ``wait`` seconds for one to arrive."""
        ...

    async def close(self) -> None: ...


class MemoryDirectory:
    """One hub's directory. With ``names``, each name is bound to the key that first registered it."""

    def __init__(self, clock: Callable[[], float] = time.time, names: NameBindings | None = None) -> None:
        self._clock = clock
        self._names = names
        self._agents: dict[str, AgentRecord] = {}
        self._invites: dict[str, deque[tuple[int, float, dict[str, str]]]] = {}
        self._seq = 0
        self._changed = asyncio.Condition()

    def _live(self) -> dict[str, AgentRecord]:
        now = self._clock()
        for name in [n for n, r in self._agents.items() if r.expires <= now]:
            del self._agents[name]
        return self._agents

    async def register(self, record: AgentRecord) -> None:
        live = self._live()
        held = live.get(record.name)
        if held is not None and held.public_key != record.public_key:
            raise NameTaken(record.name, running=True)
        names = self._names
        if names is not None and names.holder(record.name) not in (None, record.public_key):
            raise NameTaken(record.name, running=False)
        if held is None and len(live) >= MAX_AGENTS:
            raise DirectoryFull()
        if names is not None:
            if not names.has_room(record.name):
                raise DirectoryFull()
            names.bind(record.name, record.public_key)
        live[record.name] = record

    async def agents(self) -> list[AgentRecord]:
        return sorted(self._live().values(), key=lambda r: r.name)

    async def get(self, name: str) -> AgentRecord | None:
        return self._live().get(name)

    async def post_invite(self, name: str, invite: dict[str, str]) -> str:
        now = self._clock()
        queue = self._invites.setdefault(name, deque())
        while queue and (queue[0][1] <= now or len(queue) >= MAX_PENDING_INVITES):
            queue.popleft()
        self._seq += 1
        queue.append((self._seq, now + INVITE_TTL_SECONDS, invite))
        async with self._changed:
            self._changed.notify_all()
        return str(self._seq)

    def _after(self, name: str, after: str) -> list[dict[str, str]]:
        floor = int(after) if after.isdigit() else 0
        now = self._clock()
        return [{"id": str(seq), **inv} for seq, expires, inv in self._invites.get(name, ()) if seq > floor and expires > now]

    async def invites(self, name: str, after: str, wait: float) -> list[dict[str, str]]:
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(lambda: bool(self._after(name, after))), wait)
            except asyncio.TimeoutError:
                pass
        return self._after(name, after)

    async def close(self) -> None:
        pass


def directory_for(settings: Settings) -> AgentDirectory:
    # With an agent token only its holders register, and they may re-deploy an agent with a new key.
    bind_names = not settings.agent_token
    if settings.redis_url:
        from collab.hub.agent_directory_redis import RedisDirectory  # lazily: embedded hubs never import redis

        return RedisDirectory(settings.redis_url, bind_names=bind_names)
    return MemoryDirectory(names=NameBindings(settings.data / AGENT_NAMES_FILE) if bind_names else None)
