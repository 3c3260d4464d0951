"""The agent directory's HTTP API: AI agent services announce themselves, pages invite them into rooms.

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
over with another key; without the token a name also stays bound to its first key after its lease
runs out (collab.hub.agent_names). Sizes, counts and posting rates are capped.
Where agents are kept: collab.hub.agent_directory.
"""

from __future__ import annotations

import hmac
import re
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from collab.config import env_name
from collab.crypto.encoding import b64url_decode
from collab.hub.agent_directory import LEASE_SECONDS, MAX_AGENTS, AgentDirectory, AgentRecord, DirectoryFull, NameTaken
from collab.hub.agent_names import BINDING_SECONDS
from collab.hub.json_http import error_response, read_json_object
from collab.hub.rate_limit import PostLimiter, client_address

MAX_BODY = 4096
MAX_WAIT_SECONDS = 10.0
POSTS_PER_MINUTE = 30  # per client address, registrations and invites together
NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
TOKEN_ENV = env_name("agent_token")


def post_limiter() -> PostLimiter:
    """The limiter ``app.state.agent_posts`` holds: one per app, shared by every POST here."""
    return PostLimiter(POSTS_PER_MINUTE)


def _directory(request: Request) -> AgentDirectory:
    directory: AgentDirectory = request.app.state.agents
    return directory


def _authorized(request: Request) -> bool:
    token: str = request.app.state.hub.settings.agent_token
    if not token:
        return True
    given = request.headers.get("authorization", "")
    return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


async def _json_body(request: Request) -> dict[str, Any] | JSONResponse:
    limiter: PostLimiter = request.app.state.agent_posts
    if not limiter.allow(client_address(request)):
        return error_response(429, f"too many requests: at most {limiter.per_minute} a minute")
    return await read_json_object(request, MAX_BODY)


def _text(data: dict[str, Any], key: str, limit: int) -> str:
    value = data.get(key, "")
    if not isinstance(value, str) or len(value) > limit:
        raise ValueError(f"'{key}' must be a string of at most {limit} characters")
    return value


async def register(request: Request) -> Response:
    if not _authorized(request):
        return error_response(401, f"registering an agent needs the hub's agent token ({TOKEN_ENV})")
    data = await _json_body(request)
    if isinstance(data, Response):
        return data
    name = data.get("name")
    if not isinstance(name, str) or not NAME.fullmatch(name):
        return error_response(400, "'name' must be 1-32 characters of a-z 0-9 _ -, starting with a letter or digit")
    try:
        key = b64url_decode(str(data.get("public_key", "")))
    except ValueError:
        return error_response(400, "'public_key' must be base64url")
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
        message = str(exc) if isinstance(exc, ValueError) and "'" in str(exc) else "'public_key' must be base64url"
        return error_response(400, message)
    if len(key) != 32:
        return error_response(400, "'public_key' must be a base64url X25519 public key (32 bytes)")
    try:
        await _directory(request).register(record)
    except NameTaken as taken:
        if taken.running:
            return error_response(409, f"the name {name!r} is held by a running agent with another key")
        days = round(BINDING_SECONDS / 86400)
        return error_response(
            409,
            f"the name {name!r} belongs to another key: a name stays bound to the key that first registered "
            f"it until {days} days after that key last did ({TOKEN_ENV} on the hub lifts this). Choose "
            "another name, or run the agent that owns it with its key file",
        )
    except DirectoryFull:
        return error_response(507, f"the hub already lists {MAX_AGENTS} agents")
    return JSONResponse({**record.public(), "lease_seconds": LEASE_SECONDS}, status_code=200)


async def list_agents(request: Request) -> Response:
    return JSONResponse({"agents": [r.public() for r in await _directory(request).agents()]})


def _invite_field(data: dict[str, Any], key: str, size: int | None) -> str | None:
    """``data[key]`` if it is base64url of ``size`` bytes (a ciphertext: 17-1040 bytes), else None."""
    value = data.get(key)
    if not isinstance(value, str):
        return None
    try:
        raw = b64url_decode(value)
    except ValueError:
        return None
    fits = len(raw) == size if size is not None else 16 < len(raw) <= 1040
    return value if fits else None


async def post_invite(request: Request) -> Response:
    name = request.path_params["name"]
    data = await _json_body(request)
    if isinstance(data, Response):
        return data
    if not NAME.fullmatch(name) or await _directory(request).get(name) is None:
        return error_response(404, f"no agent named {name!r} is running")
    invite: dict[str, str] = {}
    for key, size in (("room", 16), ("ephemeral", 32), ("nonce", 12), ("ciphertext", None)):
        value = _invite_field(data, key, size)
        if value is None:
            return error_response(400, f"'{key}' must be base64url" + (f" of {size} bytes" if size else " of 17-1040 bytes"))
        invite[key] = value
    invite_id = await _directory(request).post_invite(name, invite)
    return JSONResponse({"id": invite_id}, status_code=202)


async def read_invites(request: Request) -> Response:
    if not _authorized(request):
        return error_response(401, f"reading invites needs the hub's agent token ({TOKEN_ENV})")
    name = request.path_params["name"]
    if not NAME.fullmatch(name):
        return error_response(404, f"no agent named {name!r}")
    after = request.query_params.get("after", "")[:40]
    try:
        wait = min(MAX_WAIT_SECONDS, max(0.0, float(request.query_params.get("wait", "0"))))
    except ValueError:
        return error_response(400, "'wait' must be a number of seconds")
    invites = await _directory(request).invites(name, after, wait)
    return JSONResponse({"invites": invites, "last": invites[-1]["id"] if invites else after})


def agent_routes() -> list[BaseRoute]:
    return [
        Route("/api/agents", register, methods=["POST"]),
        Route("/api/agents", list_agents, methods=["GET"]),
        Route("/api/agents/{name}/invites", post_invite, methods=["POST"]),
        Route("/api/agents/{name}/invites", read_invites, methods=["GET"]),
    ]
