"""The agent directory: AI agent services announce themselves, pages invite them into rooms.

An agent service (`collab agent --serve`) registers a name and an X25519 public key and keeps
the registration alive with a lease it renews. A page lists the agents, shows the key's
fingerprint, seals the room secret to that key in the browser (collab/crypto/sealing.py,
web/src/crypto/seal.ts) and posts the sealed invite here. The hub only stores and relays the
ciphertext; the agent long-polls for its invites.

    POST /api/agents                    {name, public_key, model, backend, description?, local?}
    GET  /api/agents                    {"agents": [{name, public_key, fingerprint, model, ...}]}
    POST /api/agents/{name}/invites     {room, ephemeral, nonce, ciphertext}  -> 202 {id}
    GET  /api/agents/{name}/invites?after=ID&wait=S   -> {"invites": [{id, ...}], "last": ID}

Registration and reading invites need `Authorization: Bearer <COLLAB_AGENT_TOKEN>` when the hub
has that variable set (recommended: otherwise anyone who can reach the hub can announce an agent,
and only the fingerprint check on the page tells the real one apart). A live name cannot be taken
over with another key until its lease runs out. Sizes, counts and posting rates are capped.

Two implementations behind one interface: in memory (one hub), and Redis (hubs behind a load
balancer share agents and invites: a registration on one hub is visible from all of them).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import re
import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from collab.config import Settings, env_name
from collab.crypto.encoding import b64url_decode, fingerprint

MAX_BODY = 4096
MAX_AGENTS = 64
MAX_PENDING_INVITES = 32
LEASE_SECONDS = 60.0  # a service renews every LEASE_SECONDS / 3
INVITE_TTL_SECONDS = 600.0
MAX_WAIT_SECONDS = 10.0
POSTS_PER_MINUTE = 30  # per client address, registrations and invites together
NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
TOKEN_ENV = env_name("agent_token")


class NameTaken(Exception):
    """The name is held by a live agent with another key."""


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
    async def register(self, record: AgentRecord) -> None: ...
    async def agents(self) -> list[AgentRecord]: ...
    async def get(self, name: str) -> AgentRecord | None: ...
    async def post_invite(self, name: str, invite: dict[str, str]) -> str: ...
    async def invites(self, name: str, after: str, wait: float) -> list[dict[str, str]]: ...
    async def close(self) -> None: ...


class MemoryDirectory:
    def __init__(self, clock: Any = time.time) -> None:
        self._clock = clock
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
            raise NameTaken(record.name)
        if held is None and len(live) >= MAX_AGENTS:
            raise DirectoryFull()
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


# KEYS: the registration. ARGV: record JSON, its public key, lease in ms. 1: claimed or renewed.
CLAIM = """
local raw = redis.call('GET', KEYS[1])
if raw and cjson.decode(raw)['public_key'] ~= ARGV[2] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return 1
"""


class RedisDirectory:
    """Registrations as keys with a TTL (their lease); invites in one capped stream per agent."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._client: Any = None
        self._lock = asyncio.Lock()

    async def _redis(self) -> Any:
        async with self._lock:
            if self._client is None:
                from collab.redis.connection import connect  # lazily: embedded hubs never import redis

                self._client = await connect(self.url)
            return self._client

    @staticmethod
    def _key(name: str) -> str:
        return f"collab:agent:{{{name}}}"

    @staticmethod
    def _stream(name: str) -> str:
        return f"collab:agent:{{{name}}}:invites"

    async def register(self, record: AgentRecord) -> None:
        redis = await self._redis()
        raw = await redis.get(self._key(record.name))
        if raw is None and len(await self.agents()) >= MAX_AGENTS:
            raise DirectoryFull()
        ttl = max(1, int((record.expires - time.time()) * 1000))
        # Check and claim in one step: two hubs registering one name with different keys at once
        # must not both succeed (a GET then SET let the second silently replace the first).
        claimed = await redis.eval(CLAIM, 1, self._key(record.name), json.dumps(asdict(record)), record.public_key, ttl)
        if not claimed:
            raise NameTaken(record.name)
        await redis.zadd("collab:agents", {record.name: record.expires})

    async def agents(self) -> list[AgentRecord]:
        redis = await self._redis()
        await redis.zremrangebyscore("collab:agents", "-inf", time.time())
        out = []
        for name in await redis.zrange("collab:agents", 0, MAX_AGENTS * 2):
            record = await self.get(name.decode() if isinstance(name, bytes) else name)
            if record is not None:
                out.append(record)
        return sorted(out, key=lambda r: r.name)

    async def get(self, name: str) -> AgentRecord | None:
        raw = await (await self._redis()).get(self._key(name))
        return None if raw is None else AgentRecord(**json.loads(raw))

    async def post_invite(self, name: str, invite: dict[str, str]) -> str:
        redis = await self._redis()
        entry_id = await redis.xadd(self._stream(name), {"invite": json.dumps(invite)},
                                    maxlen=MAX_PENDING_INVITES, approximate=False)
        await redis.expire(self._stream(name), int(INVITE_TTL_SECONDS))
        return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)

    async def invites(self, name: str, after: str, wait: float) -> list[dict[str, str]]:
        redis = await self._redis()
        start = after if re.fullmatch(r"\d+-\d+", after) else "0-0"
        # XREAD BLOCK holds a pooled connection for the wait; the socket timeout must outlast it.
        reply = await redis.xread({self._stream(name): start}, count=MAX_PENDING_INVITES,
                                  block=max(1, int(min(wait, 4.0) * 1000)))
        out: list[dict[str, str]] = []
        cutoff = (time.time() - INVITE_TTL_SECONDS) * 1000
        for _stream, entries in reply or ():
            for entry_id, fields in entries:
                ident = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
                if int(ident.split("-")[0]) < cutoff:
                    continue
                raw = fields.get(b"invite", fields.get("invite"))
                out.append({"id": ident, **json.loads(raw)})
        return out

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def directory_for(settings: Settings) -> AgentDirectory:
    return RedisDirectory(settings.redis_url) if settings.redis_url else MemoryDirectory()


class PostLimiter:
    """A sliding one-minute window of POSTs per client address."""

    def __init__(self, per_minute: int = POSTS_PER_MINUTE) -> None:
        self.per_minute = per_minute
        self._seen: dict[str, deque[float]] = {}

    def allow(self, who: str) -> bool:
        now = time.monotonic()
        if len(self._seen) > 10_000:
            self._seen.clear()  # bounded memory beats perfect accounting under a flood
        window = self._seen.setdefault(who, deque())
        while window and window[0] <= now - 60:
            window.popleft()
        if len(window) >= self.per_minute:
            return False
        window.append(now)
        return True


# -- HTTP ----------------------------------------------------------------------------------------


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _directory(request: Request) -> AgentDirectory:
    return request.app.state.agents


def _authorized(request: Request) -> bool:
    token = request.app.state.hub.settings.agent_token
    if not token:
        return True
    given = request.headers.get("authorization", "")
    return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


async def _json_body(request: Request) -> dict[str, Any] | JSONResponse:
    limiter: PostLimiter = request.app.state.agent_posts
    if not limiter.allow(request.client.host if request.client else "?"):
        return _error(429, f"too many requests: at most {limiter.per_minute} a minute")
    if int(request.headers.get("content-length") or 0) > MAX_BODY:
        return _error(413, f"request body over {MAX_BODY} bytes")
    body = await request.body()
    if len(body) > MAX_BODY:
        return _error(413, f"request body over {MAX_BODY} bytes")
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        return _error(400, "body must be JSON")
    return data if isinstance(data, dict) else _error(400, "body must be a JSON object")


def _text(data: dict[str, Any], key: str, limit: int) -> str:
    value = data.get(key, "")
    if not isinstance(value, str) or len(value) > limit:
        raise ValueError(f"'{key}' must be a string of at most {limit} characters")
    return value


async def register(request: Request) -> Response:
    if not _authorized(request):
        return _error(401, f"registering an agent needs the hub's agent token ({TOKEN_ENV})")
    data = await _json_body(request)
    if isinstance(data, Response):
        return data
    name = data.get("name")
    if not isinstance(name, str) or not NAME.fullmatch(name):
        return _error(400, "'name' must be 1-32 characters of a-z 0-9 _ -, starting with a letter or digit")
    try:
        key = b64url_decode(str(data.get("public_key", "")))
    except ValueError:
        return _error(400, "'public_key' must be base64url")
    try:
        record = AgentRecord(
            name=name,
            public_key=str(data["public_key"]),
            model=_text(data, "model", 128),
            backend=_text(data, "backend", 160),
            description=_text(data, "description", 300),
            local=bool(data.get("local", False)),
            expires=time.time() + LEASE_SECONDS,
        )
    except (ValueError, KeyError) as exc:
        return _error(400, str(exc) if isinstance(exc, ValueError) and "'" in str(exc) else "'public_key' must be base64url")
    if len(key) != 32:
        return _error(400, "'public_key' must be a base64url X25519 public key (32 bytes)")
    try:
        await _directory(request).register(record)
    except NameTaken:
        return _error(409, f"the name {name!r} is held by a running agent with another key")
    except DirectoryFull:
        return _error(507, f"the hub already lists {MAX_AGENTS} agents")
    return JSONResponse({**record.public(), "lease_seconds": LEASE_SECONDS}, status_code=200)


async def list_agents(request: Request) -> Response:
    return JSONResponse({"agents": [r.public() for r in await _directory(request).agents()]})


async def post_invite(request: Request) -> Response:
    name = request.path_params["name"]
    data = await _json_body(request)
    if isinstance(data, Response):
        return data
    if not NAME.fullmatch(name) or await _directory(request).get(name) is None:
        return _error(404, f"no agent named {name!r} is running")
    invite: dict[str, str] = {}
    for key, size in (("room", 16), ("ephemeral", 32), ("nonce", 12), ("ciphertext", None)):
        value = data.get(key)
        try:
            raw = b64url_decode(value) if isinstance(value, str) else None
        except ValueError:
            raw = None
        if raw is None or (size is not None and len(raw) != size) or (size is None and not 16 < len(raw) <= 1040):
            return _error(400, f"'{key}' must be base64url" + (f" of {size} bytes" if size else " of 17-1040 bytes"))
        invite[key] = value  # type: ignore[assignment]
    invite_id = await _directory(request).post_invite(name, invite)
    return JSONResponse({"id": invite_id}, status_code=202)


async def read_invites(request: Request) -> Response:
    if not _authorized(request):
        return _error(401, f"reading invites needs the hub's agent token ({TOKEN_ENV})")
    name = request.path_params["name"]
    if not NAME.fullmatch(name):
        return _error(404, f"no agent named {name!r}")
    after = request.query_params.get("after", "")[:40]
    try:
        wait = min(MAX_WAIT_SECONDS, max(0.0, float(request.query_params.get("wait", "0"))))
    except ValueError:
        return _error(400, "'wait' must be a number of seconds")
    invites = await _directory(request).invites(name, after, wait)
    return JSONResponse({"invites": invites, "last": invites[-1]["id"] if invites else after})


def agent_routes() -> list[BaseRoute]:
    return [
        Route("/api/agents", register, methods=["POST"]),
        Route("/api/agents", list_agents, methods=["GET"]),
        Route("/api/agents/{name}/invites", post_invite, methods=["POST"]),
        Route("/api/agents/{name}/invites", read_invites, methods=["GET"]),
    ]
