"""HTTP routes: health, metrics, room creation."""

from __future__ import annotations

import os
import time

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from collab.crypto.encoding import b64url_decode, b64url_encode
from collab.hub.hub import Hub
from collab.hub.json_http import error_response as _error
from collab.hub.json_http import read_json_object
from collab.hub.rate_limit import TokenBuckets, client_address, rooms_refused
from collab.protocol.room_names import ROOM_NAME_RULE, valid_room_name
from collab.store.base import RoomExists, RoomInfo, StoreUnavailable

MAX_BODY = 16 * 1024


def _hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


async def healthz(request: Request) -> Response:
    try:
        await _hub(request).store.ping()
    except StoreUnavailable as exc:
        return JSONResponse({"status": "unavailable", "store": str(exc)}, status_code=503)
    return JSONResponse({"status": "ok"})


async def metrics(request: Request) -> Response:
    hub = _hub(request)
    return Response(hub.metrics.render(), media_type=hub.metrics.content_type)


async def create_room(request: Request) -> Response:
    hub = _hub(request)
    limiter: TokenBuckets = request.app.state.room_creations
    wait = limiter.take(client_address(request))
    if wait > 0:
        reason, seconds = rooms_refused(limiter, wait)
        return _error(429, reason, headers={"Retry-After": str(seconds)})
    spec = await read_json_object(request, MAX_BODY)
    if isinstance(spec, Response):
        return spec
    kind = spec.get("kind", "plaintext")
    if kind not in ("plaintext", "encrypted"):
        return _error(400, "kind must be 'plaintext' or 'encrypted'")
    name = spec.get("room")
    write_key: bytes | None = None
    read_key: bytes | None = None
    if kind == "encrypted":
        if not isinstance(name, str) or not valid_room_name(name):
            return _error(400, "encrypted rooms need 'room': the id the client derived from its secret")
        try:
            write_key = b64url_decode(str(spec.get("write_key", "")))
        except ValueError:
            write_key = b""
        if len(write_key) != 32:
            return _error(400, "encrypted rooms need 'write_key': a base64url Ed25519 public key (32 bytes)")
        # Optional, for clients from before reader keys: a room created without one admits any reader.
        if "read_key" in spec:
            read_key = _public_key(spec["read_key"])
            if read_key is None:
                return _error(400, "'read_key' must be a base64url Ed25519 public key (32 bytes)")
    elif name is None:
        name = b64url_encode(os.urandom(12))
    elif not isinstance(name, str) or not valid_room_name(name):
        return _error(400, ROOM_NAME_RULE)
    try:
        await hub.store.create_room(RoomInfo(name, kind, write_key, time.time(), read_key))
    except RoomExists:
        return _error(409, f"room {name!r} already exists")
    except StoreUnavailable as exc:
        return _error(503, f"store unavailable: {exc}")
    base = str(request.base_url).rstrip("/")
    return JSONResponse({"room": name, "kind": kind, "url": f"{base}/s/{name}"}, status_code=201)


def _public_key(value: object) -> bytes | None:
    """A raw 32-byte public key from its base64url text, or None."""
    try:
        raw = b64url_decode(value) if isinstance(value, str) else b""
    except ValueError:
        return None
    return raw if len(raw) == 32 else None


async def room_info(request: Request) -> Response:
    name = request.path_params["room"]
    info = await _hub(request).store.room_info(name) if valid_room_name(name) else None
    if info is None:
        return _error(404, "no such room")
    result: dict[str, object] = {"room": info.name, "kind": info.kind}
    if info.write_key:
        result["write_key"] = b64url_encode(info.write_key)
    if info.read_key:
        result["read_key"] = b64url_encode(info.read_key)
    return JSONResponse(result)
