"""`collab new`: create a room on a hub and print its links.

Encrypted by default: the secret is generated here and never sent; the hub learns only the room id
and the write public key (both derived from the secret). The links carry the keys in their
fragment, so print them to the terminal only.
"""

from __future__ import annotations

import argparse
import os
import sys

import httpx

from collab.crypto.encoding import b64url_encode
from collab.crypto.keys import RoomKeys, generate_write_secret
from collab.crypto.links import LinkError, normalize_server_base, plaintext_link, read_link, write_link

HELP = "create a room (end-to-end encrypted unless --plaintext) and print its share links"
DEFAULT_SERVER = "http://127.0.0.1:8000"


class RoomCreationError(RuntimeError):
    """The hub could not be reached or refused the room; the message says which and why."""


def add_server_argument(p: argparse.ArgumentParser) -> None:
    """--server, the same for every command that creates rooms: flag, else $COLLAB_SERVER, else local."""
    p.add_argument(
        "--server",
        default=os.environ.get("COLLAB_SERVER") or DEFAULT_SERVER,
        help=f"the hub's address (env COLLAB_SERVER; default {DEFAULT_SERVER})",
    )


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_server_argument(p)
    p.add_argument(
        "--plaintext",
        action="store_true",
        help="create a plaintext room (standard y-websocket; the hub can read it) instead of an encrypted one",
    )


def _post(server: str, body: dict[str, str], timeout: float) -> dict[str, object]:
    url = f"{server}/api/rooms"
    try:
        response = httpx.post(url, json=body, timeout=timeout)
    except httpx.HTTPError as exc:
        raise RoomCreationError(f"cannot reach the hub at {server}: {exc or type(exc).__name__}") from exc
    if response.status_code != 201:
        try:
            detail = str(response.json().get("error", ""))
        except ValueError:
            detail = response.text[:200]
        raise RoomCreationError(f"the hub at {server} refused to create the room (HTTP {response.status_code}): {detail}")
    try:
        result = response.json()
    except ValueError as exc:
        raise RoomCreationError(f"{server} answered with something that is not a collab hub") from exc
    if not isinstance(result, dict):
        raise RoomCreationError(f"{server} answered with something that is not a collab hub")
    return result


def create_encrypted_room(server: str, *, timeout: float = 10.0) -> RoomKeys:
    """Generate a secret, register the room (id, write and reader public keys) on the hub, return the keys."""
    server = normalize_server_base(server)
    keys = RoomKeys.from_write_secret(generate_write_secret(), bound=True)  # the room id binds the write key
    _post(server, {"kind": "encrypted", "room": keys.room_id, "write_key": b64url_encode(keys.write_public_key),
                   "read_key": b64url_encode(keys.reader_public_key)}, timeout)
    return keys


def create_plaintext_room(server: str, *, timeout: float = 10.0) -> str:
    """Create a plaintext room with a name the hub picks; returns the name."""
    server = normalize_server_base(server)
    result = _post(server, {"kind": "plaintext"}, timeout)
    room = result.get("room")
    if not isinstance(room, str):
        raise RoomCreationError(f"{server} did not say which room it created")
    return room


def run(args: argparse.Namespace) -> int:
    try:
        server = normalize_server_base(args.server)
        if args.plaintext:
            room = create_plaintext_room(server)
            print("Plaintext room (the hub can read everything in it):")
            print(f"  link: {plaintext_link(server, room)}")
            return 0
        keys = create_encrypted_room(server)
    except (LinkError, RoomCreationError) as exc:
        print(f"collab new: {exc}", file=sys.stderr)
        return 1
    print("End-to-end encrypted room. The keys are in the part after '#': share links privately.")
    print(f"  write link:     {write_link(server, keys)}")
    print(f"  read-only link: {read_link(server, keys)}")
    return 0
