"""The agent directory in Redis, so hubs behind a load balancer share agents and invites.

Registrations are keys with a TTL (their lease), indexed by a sorted set scored by expiry; invites
wait in one capped stream per agent; the key a name is bound to (collab.hub.agent_names) is a key
with a TTL of BINDING_SECONDS, renewed by each registration. Key names: collab.redis.keys.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import asdict
from typing import Any

from collab.hub.agent_directory import INVITE_TTL_SECONDS, MAX_AGENTS, MAX_PENDING_INVITES, AgentRecord, DirectoryFull, NameTaken
from collab.hub.agent_names import BINDING_SECONDS
from collab.redis.connection import Client, connect
from collab.redis.keys import AGENTS, agent_invites_key, agent_key, agent_owner_key

# KEYS: the registration, the name's owner. ARGV: record JSON, its public key, lease in ms, "1" to
# bind names to their first key, binding in ms.
# 1: claimed or renewed; 0: a live agent holds the name with another key; -1: bound to another key.
CLAIM = """
local bind = ARGV[4] == '1'
if bind then
  local owner = redis.call('GET', KEYS[2])
  if owner and owner ~= ARGV[2] then return -1 end
end
local raw = redis.call('GET', KEYS[1])
if raw and cjson.decode(raw)['public_key'] ~= ARGV[2] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
if bind then redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[5]) end
return 1
"""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisDirectory:
    def __init__(self, url: str, *, bind_names: bool = True) -> None:
        self.url = url
        self.bind_names = bind_names
        self._client: Client | None = None
        self._lock = asyncio.Lock()

    async def _redis(self) -> Client:
        async with self._lock:
            if self._client is None:
                self._client = await connect(self.url)
            return self._client

    async def register(self, record: AgentRecord) -> None:
        redis = await self._redis()
        raw = await redis.get(agent_key(record.name))
        if raw is None and len(await self.agents()) >= MAX_AGENTS:
            raise DirectoryFull()
        ttl = max(1, int((record.expires - time.time()) * 1000))
        # Check and claim in one step: two hubs registering one name with different keys at once
        # must not both succeed (a GET then SET let the second silently replace the first).
        claimed = int(await redis.eval(
            CLAIM, 2, agent_key(record.name), agent_owner_key(record.name), json.dumps(asdict(record)),
            record.public_key, ttl, "1" if self.bind_names else "0", int(BINDING_SECONDS * 1000),
        ))
        if claimed <= 0:
            raise NameTaken(record.name, running=claimed == 0)
        await redis.zadd(AGENTS, {record.name: record.expires})

    async def agents(self) -> list[AgentRecord]:
        redis = await self._redis()
        await redis.zremrangebyscore(AGENTS, "-inf", time.time())
        out = []
        for name in await redis.zrange(AGENTS, 0, MAX_AGENTS * 2):
            record = await self.get(_text(name))
            if record is not None:
                out.append(record)
        return sorted(out, key=lambda r: r.name)

    async def get(self, name: str) -> AgentRecord | None:
        raw = await (await self._redis()).get(agent_key(name))
        return None if raw is None else AgentRecord(**json.loads(raw))

    async def post_invite(self, name: str, invite: dict[str, str]) -> str:
        redis = await self._redis()
        stream = agent_invites_key(name)
        entry_id = await redis.xadd(stream, {"invite": json.dumps(invite)}, maxlen=MAX_PENDING_INVITES, approximate=False)
        await redis.expire(stream, int(INVITE_TTL_SECONDS))
        return _text(entry_id)

    async def invites(self, name: str, after: str, wait: float) -> list[dict[str, str]]:
        redis = await self._redis()
        start = after if re.fullmatch(r"\d+-\d+", after) else "0-0"
        # XREAD BLOCK holds a pooled connection for the wait; the socket timeout must outlast it.
        reply: Any = await redis.xread({agent_invites_key(name): start}, count=MAX_PENDING_INVITES,
                                  block=max(1, int(min(wait, 4.0) * 1000)))
        out: list[dict[str, str]] = []
        cutoff = (time.time() - INVITE_TTL_SECONDS) * 1000
        for _stream, entries in reply or ():
            for entry_id, fields in entries:
                ident = _text(entry_id)
                if int(ident.split("-")[0]) < cutoff:
                    continue
                raw = fields.get(b"invite", fields.get("invite"))
                out.append({"id": ident, **json.loads(raw)})
        return out

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
