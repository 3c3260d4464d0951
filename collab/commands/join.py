"""`collab join LINK --dir PATH`: mirror a session into a folder that any editor can edit."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import signal
import sys
from pathlib import Path

from collab.client.localfs import DEFAULT_MAX_BYTES
from collab.client.mirror import Mirror
from collab.client.provider import ProviderError, Status
from collab.client.session import Session
from collab.crypto import LinkError

HELP = "mirror a session into a local folder that any editor can edit"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("link", help="the session link (keep the #k=... part of encrypted links)")
    p.add_argument("--dir", required=True, type=Path, help="folder to mirror into (created if missing)")
    p.add_argument("--name", default=None, help="your name in presence and chat (default: your login)")
    p.add_argument("--color", default=None, help="your cursor colour, #rrggbb (default: picked for you)")
    p.add_argument("--max-file-bytes", type=int, default=DEFAULT_MAX_BYTES, help="skip local files larger than this")
    p.add_argument("--poll", action="store_true", help="poll the folder instead of OS change events (network drives)")


def run(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(join(args))
    except (LinkError, ProviderError) as exc:
        print(f"collab join: {exc}", file=sys.stderr)
        return 1


async def join(args: argparse.Namespace) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    name = args.name or getpass.getuser()
    async with Session.connect(args.link, name=name, color=args.color) as session:
        mirror = Mirror(session.workspace, args.dir.expanduser(), max_bytes=args.max_file_bytes, poll=args.poll)
        await mirror.initial_sync()
        print(
            f"mirroring room {session.link.room} into {args.dir} as {name} (Ctrl-C to stop)",
            file=sys.stderr,
            flush=True,
        )
        watcher = asyncio.create_task(_report_status(session, stop))
        try:
            await mirror.run(stop)
        finally:
            stop.set()
            await watcher  # its last look reports a reconnect that happened just before the stop
        try:
            await asyncio.wait_for(session.wait_idle(), 5)
        except (asyncio.TimeoutError, ProviderError):
            print(f"collab join: {session.pending} local edits not sent; they will be sent next time", file=sys.stderr)
    print("collab join: stopped; the folder is consistent", file=sys.stderr, flush=True)
    return 0


async def _report_status(session: Session, stop: asyncio.Event) -> None:
    """Tell the person at the terminal when the hub is lost and when it is back."""
    # Polled, so the CONNECTING step between OFFLINE and CONNECTED may or may not be seen:
    # remember that we said "unreachable" rather than comparing with the previous status.
    lost = False
    while True:
        now = session.status
        if now is Status.OFFLINE and not lost:
            lost = True
            print("collab join: hub unreachable; keep editing, changes are sent when it is back", file=sys.stderr, flush=True)
        elif now is Status.CONNECTED and lost:
            lost = False
            print("collab join: reconnected", file=sys.stderr, flush=True)
        if stop.is_set():
            return
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.2)
