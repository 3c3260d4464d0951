"""`collab trash LINK [--restore PATH]... [--empty]`: the session's trash from a terminal.

For people in `collab join` folders (or any editor without the plugin): list what was deleted,
by whom and when, and bring a file back; the folder's mirror then writes it back to disk. The
page, the editor plugins and this command share one trash (docs/workspace.md).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
import time

from collab.client.provider import ProviderError
from collab.client.session import Session
from collab.commands.link_arg import HELP as LINK_HELP
from collab.commands.link_arg import LinkArgumentError, required_link_argument
from collab.crypto import LinkError
from collab.workspace_errors import WorkspaceError
from collab.workspace_files import TrashEntry

HELP = "list the session's deleted files, or restore them (--restore PATH) or empty the trash (--empty)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("link", nargs="?", default=None, help=LINK_HELP)
    p.add_argument("--restore", action="append", default=[], metavar="PATH",
                   help="bring back the file last deleted at PATH (repeatable); it returns at PATH, "
                        "or under a conflict name when PATH is taken")
    p.add_argument("--empty", action="store_true", help="delete everything in the trash for good")
    p.add_argument("--name", default=None, help="your name in presence (default: your login)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the hub (default: 30)")


def run(args: argparse.Namespace) -> int:
    if args.restore and args.empty:
        print("collab trash: --restore and --empty do not go together", file=sys.stderr)
        return 2
    try:
        link = required_link_argument(args.link)
        return asyncio.run(trash(link, args))
    except (LinkArgumentError, LinkError, ProviderError, WorkspaceError) as exc:
        print(f"collab trash: {exc}", file=sys.stderr)
        return 1


def describe(entry: TrashEntry, now: float) -> str:
    """One line per entry: the path, who deleted it, how long ago."""
    ago = max(0.0, now - entry.ts)
    when = (f"{ago:.0f} s" if ago < 90 else f"{ago / 60:.0f} min" if ago < 5400
            else f"{ago / 3600:.0f} h" if ago < 129600 else f"{ago / 86400:.0f} days")
    # Paths and names are anyone's text: repr-escape control characters so a crafted name cannot
    # rewrite this terminal (an escape sequence in a path would otherwise be printed raw).
    return f"{_plain(entry.path)}\tdeleted by {_plain(entry.by) or 'someone'} {when} ago"


def _plain(text: str) -> str:
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


async def trash(link: str, args: argparse.Namespace) -> int:
    async with Session.connect(link, name=args.name or getpass.getuser(), timeout=args.timeout) as session:
        ws = session.workspace
        if (args.restore or args.empty) and not session.writable:
            raise ProviderError("a read-only link cannot change the trash: use the write link")
        entries = ws.trash()  # newest first
        if args.empty:
            gone = ws.empty_trash()
            await asyncio.wait_for(session.wait_idle(), args.timeout)
            print(f"emptied the trash: {gone} file{'s' if gone != 1 else ''} deleted for good", file=sys.stderr)
            return 0
        if args.restore:
            missing = [p for p in args.restore if not any(e.path == p for e in entries)]
            if missing:
                raise WorkspaceError(f"not in the trash: {', '.join(_plain(p) for p in missing)}")
            for path in args.restore:
                entry = next(e for e in entries if e.path == path)
                where = ws.restore(entry.id)
                print(f"restored {_plain(path)}" + (f" as {_plain(where)}" if where != path else ""))
            await asyncio.wait_for(session.wait_idle(), args.timeout)
            return 0
        if not entries:
            print("the trash is empty", file=sys.stderr)
        now = time.time()
        for entry in entries:
            print(describe(entry, now))
        return 0
