"""`collab rotate LINK [--remove NAME]...`: move an encrypted room to new keys, print its new links.

Every device in the room's roster keeps access without a new link (collab.client.roster), except
the ones named with --remove: they can neither read what is written afterwards nor write. People
whose device is not in the roster (a read-only link, a page of an old version) need the new links.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from collab.client.encrypted import EncryptedProvider
from collab.client.provider import ProviderError
from collab.client.roster import roster
from collab.commands.link_arg import HELP as LINK_HELP
from collab.commands.link_arg import LinkArgumentError, required_link_argument
from collab.crypto import LinkError, parse_link, read_link, websocket_url, write_link

HELP = "rotate an encrypted room's keys (--remove NAME: that person's devices lose access); prints the new links"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("link", nargs="?", default=None, help=LINK_HELP)
    p.add_argument("--remove", action="append", default=[], metavar="NAME",
                   help="a name in the room's roster whose devices get no new key (repeatable)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the hub (default: 30)")


def run(args: argparse.Namespace) -> int:
    try:
        link = required_link_argument(args.link)
        return asyncio.run(rotate(link, tuple(args.remove), args.timeout))
    except (LinkArgumentError, LinkError, ProviderError) as exc:
        print(f"collab rotate: {exc}", file=sys.stderr)
        return 1


async def rotate(link: str, remove: tuple[str, ...], timeout: float) -> int:
    parsed = parse_link(link)
    if parsed.keys is None or not parsed.keys.can_write:
        raise ProviderError("rotating needs the room's write link (#k=...)")
    provider = EncryptedProvider(parsed.keys, websocket_url(parsed.server_base, parsed.room))
    await provider.start(timeout=timeout)
    try:
        names = {d.name for d in roster(provider.doc)}
        unknown = sorted(set(remove) - names)
        if unknown:
            listed = ", ".join(sorted(names)) or "nobody"
            raise ProviderError(f"not in the room's roster: {', '.join(unknown)} (listed: {listed})")
        keys = await provider.rotate(remove, timeout=timeout)
        await provider.flush(timeout)  # the roster without the removed ones, under the new keys
    finally:
        await provider.stop()
    kept = sorted(names - set(remove))
    print(f"room {keys.room_id} is at key epoch {keys.epoch}; kept without a new link: {', '.join(kept) or 'nobody'}",
          file=sys.stderr)
    print(write_link(parsed.server_base, keys))
    print(read_link(parsed.server_base, keys))
    return 0
