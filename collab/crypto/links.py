"""Share links: the only way keys travel between people.

    encrypted, can write:   {base}/s/{room_id}#k={b64url(write secret)}
    encrypted, read only:   {base}/s/{room_id}#r={b64url(read secret || write public key)}
    plaintext room:         {base}/s/{room}

Keys live in the fragment because browsers never send the fragment to the server, so the hub
serving the page never learns them. Error messages never quote the fragment: links get pasted
into bug reports and logs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable
from urllib.parse import SplitResult, urlsplit

from collab.crypto.encoding import b64url_decode, b64url_encode
from collab.crypto.keys import (
    MAX_EPOCH,
    PUBLIC_KEY_SIZE,
    READ_CAPABILITY_SIZE,
    READ_SECRET_SIZE,
    ROOM_ID_SIZE,
    WRITE_SECRET_SIZE,
    CryptoError,
    ReadOnlyKeys,
    RoomKeys,
)
from collab.protocol.room_names import RESERVED, valid_room_name

__all__ = [
    "LinkError",
    "ParsedLink",
    "b64url_decode",
    "b64url_encode",
    "link_secrets",
    "normalize_server_base",
    "parse_link",
    "plaintext_link",
    "read_link",
    "validate_room_name",
    "websocket_url",
    "write_link",
]

# Greedy prefix: a hub mounted under a sub-path (https://example.com/tools/s/…) keeps its prefix,
# and the *last* "/s/" segment is the room.
_LINK_PATH = re.compile(r"(?P<prefix>.*)/s/(?P<room>[^/]*)/?")


class LinkError(CryptoError):
    """A share link or server address that cannot be used."""


@dataclass(frozen=True)
class ParsedLink:
    server_base: str  # scheme://host[:port][/prefix], no trailing slash
    room: str  # room id (encrypted rooms) or room name (plaintext rooms)
    keys: RoomKeys | None  # None for a plaintext room

    @property
    def encrypted(self) -> bool:
        return self.keys is not None


def validate_room_name(room: str) -> str:
    """Return ``room`` if it is a legal room name, else raise :class:`LinkError`.

    The rule is collab/protocol/room_names.py, the one the hub applies; this says which part failed.
    """
    if isinstance(room, str) and room in RESERVED:
        raise LinkError(f"invalid room name {room!r}: '.' and '..' are reserved")
    if not valid_room_name(room):
        raise LinkError(f"invalid room name {room!r}: use 1-128 characters of A-Z a-z 0-9 . _ -")
    return room


def _http_parts(url: str, bad_scheme: Callable[[str], str], no_host: str) -> tuple[str, SplitResult]:
    """The lower-cased scheme and the parts of an http(s) URL that names a host, or LinkError with
    ``bad_scheme(the scheme, quoted)`` or ``no_host``."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise LinkError(bad_scheme(repr(parts.scheme or "(none)")))
    if not parts.netloc:
        raise LinkError(no_host)
    return scheme, parts


def normalize_server_base(server_base: str) -> str:
    """Check an http(s) base URL and drop any trailing slash."""
    scheme, parts = _http_parts(
        server_base,
        lambda bad: f"unknown scheme {bad} in {server_base!r}: expected an http:// or https:// address",
        f"no host in server address {server_base!r}",
    )
    if parts.query or parts.fragment:
        raise LinkError(f"server address {server_base!r} must not have a query or fragment")
    return f"{scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def write_link(server_base: str, keys: RoomKeys) -> str:
    if keys.write_secret is None:
        raise ReadOnlyKeys(f"room {keys.room_id}: read-only keys cannot make a write link")
    base = normalize_server_base(server_base)
    return f"{base}/s/{keys.room_id}#k={b64url_encode(keys.write_secret)}{_epoch_part(keys)}"


def read_link(server_base: str, keys: RoomKeys) -> str:
    base = normalize_server_base(server_base)
    return f"{base}/s/{keys.room_id}#r={b64url_encode(keys.read_capability)}{_epoch_part(keys)}"


def _epoch_part(keys: RoomKeys) -> str:
    """A rotated room's links name their epoch (``&e=N``); epoch 0's look as they always did."""
    return f"&e={keys.epoch}" if keys.epoch else ""


def link_secrets(keys: RoomKeys) -> tuple[str, ...]:
    """The parts of a room's links that must never be shown (collab/crypto/redact.py removes them)."""
    secrets = [b64url_encode(keys.read_capability)]
    if keys.write_secret is not None:
        secrets.append(b64url_encode(keys.write_secret))
    return tuple(secrets)


def plaintext_link(server_base: str, room: str) -> str:
    return f"{normalize_server_base(server_base)}/s/{validate_room_name(room)}"


def websocket_url(server_base: str, room: str) -> str:
    """The hub's websocket endpoint for a room: ws(s)://host[/prefix]/ws/{room}."""
    base = normalize_server_base(server_base)
    ws_base = "wss" + base[len("https") :] if base.startswith("https:") else "ws" + base[4:]
    return f"{ws_base}/ws/{validate_room_name(room)}"


def parse_link(url: str) -> ParsedLink:
    """Split a share link into server base, room and keys, checking everything checkable.

    Raises :class:`LinkError` with a message meant for the person who pasted the link.
    """
    url = url.strip()  # pasted links often carry a newline; nothing else is forgiven
    scheme, parts = _http_parts(
        url, lambda bad: f"unknown link scheme {bad}: a collab link starts with http:// or https://", "the link has no host name"
    )
    match = _LINK_PATH.fullmatch(parts.path)
    if match is None:
        raise LinkError(f"not a collab room link: the path {parts.path!r} has no /s/<room> part")
    room = validate_room_name(match["room"])
    base = f"{scheme}://{parts.netloc}{match['prefix']}"

    fragment = parts.fragment
    if not fragment:
        return ParsedLink(server_base=base, room=room, keys=None)
    fragment, amp, epoch_text = fragment.partition("&e=")
    if amp:
        return ParsedLink(server_base=base, room=room, keys=_epoch_keys(room, fragment, epoch_text))
    name, eq, value = fragment.partition("=")
    if not eq or name not in ("k", "r"):
        raise LinkError(
            "unrecognised key in the link fragment: expected #k=<write secret> "
            "or #r=<read-only capability>"
        )
    if name == "k":
        secret = _decode_key(value, "write secret (#k=)", WRITE_SECRET_SIZE)
        keys = _matching(room, RoomKeys.from_write_secret(secret), lambda: RoomKeys.from_write_secret(secret, bound=True))
    else:
        cap = _decode_key(value, "read-only capability (#r=)", READ_CAPABILITY_SIZE)
        r, w = cap[:READ_SECRET_SIZE], cap[READ_SECRET_SIZE : READ_SECRET_SIZE + PUBLIC_KEY_SIZE]
        try:
            keys = _matching(room, RoomKeys.from_read_capability(r, w), lambda: RoomKeys.from_read_capability(r, w, bound=True))
        except CryptoError as exc:
            raise LinkError(f"the read-only capability in the link is unusable: {exc}") from exc
    if keys.room_id != room:
        raise LinkError(
            f"the room id in the link path ({room}) does not match the room its key opens "
            f"({keys.room_id}): the link was truncated or edited"
        )
    return ParsedLink(server_base=base, room=room, keys=keys)


def _matching(room: str, unbound: RoomKeys, bound: Callable[[], RoomKeys]) -> RoomKeys:
    """A room made before binding has the unbound room id; one made since, the id bound to its
    write key: a read-only link re-issued with another write key matches neither."""
    if unbound.room_id == room:
        return unbound
    other = bound()
    return other if other.room_id == room else unbound


def _epoch_keys(room: str, fragment: str, epoch_text: str) -> RoomKeys:
    """``#k=<secret>&e=N`` or ``#r=<capability>&e=N``: keys of epoch N >= 1 (after a rotation).

    The room id is not derived from these secrets but salts every key, so a link whose path names
    another room derives keys the hub refuses (4401) and that open none of the room's entries.
    """
    if not epoch_text.isdigit() or epoch_text.startswith("0") or int(epoch_text) > MAX_EPOCH:
        raise LinkError("the link's key epoch (&e=) must be a whole number from 1")
    epoch = int(epoch_text)
    name, eq, value = fragment.partition("=")
    try:
        room_id = b64url_decode(room)
    except ValueError:
        room_id = b""
    if len(room_id) != ROOM_ID_SIZE:
        raise LinkError("a link with a key epoch names an encrypted room id (22 characters) in its path")
    if eq and name == "k":
        secret = _decode_key(value, "write secret (#k=)", WRITE_SECRET_SIZE)
        return RoomKeys.for_epoch(room_id, epoch, write_secret=secret)
    if eq and name == "r":
        cap = _decode_key(value, "read-only capability (#r=)", READ_CAPABILITY_SIZE)
        try:
            return RoomKeys.for_epoch(room_id, epoch, read_secret=cap[:READ_SECRET_SIZE], write_public_key=cap[READ_SECRET_SIZE:])
        except CryptoError as exc:
            raise LinkError(f"the read-only capability in the link is unusable: {exc}") from exc
    raise LinkError("unrecognised key in the link fragment: expected #k=<write secret> or #r=<read-only capability>")


def _decode_key(text: str, what: str, size: int) -> bytes:
    try:
        raw = b64url_decode(text)
    except ValueError as exc:
        raise LinkError(f"the {what} in the link is not valid base64url: {exc}") from exc
    if len(raw) != size:
        raise LinkError(
            f"the {what} in the link decodes to {len(raw)} bytes; expected {size} "
            "(was the link cut short?)"
        )
    return raw
