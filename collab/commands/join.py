"""`collab join LINK --dir PATH`: mirror a session into a folder that any editor can edit."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import re
import signal
import sys
import tempfile
from pathlib import Path

from collab.client.localfs import DEFAULT_MAX_BYTES
from collab.client.mirror import Mirror
from collab.client.provider import ProviderError, Status
from collab.client.session import Session
from collab.client.device import folder_device_key, keep
from collab.client.folderstate import STATE_DIR
from collab.commands import link_arg
from collab.crypto import LinkError

HELP = "mirror a session into a local folder that any editor can edit"
COLOR = re.compile(r"#[0-9a-fA-F]{6}")


class JoinError(RuntimeError):
    """A setting or folder that cannot be used: the message says which and why."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("link", nargs="?", help=link_arg.HELP)
    p.add_argument("--dir", required=True, type=Path, help="folder to mirror into (created if missing)")
    p.add_argument("--name", default=None, help="your name in presence and chat (default: your login)")
    p.add_argument("--color", default=None, help="your cursor colour, #rrggbb (default: picked for you)")
    p.add_argument(
        "--max-file-bytes",
        type=int,
        default=DEFAULT_MAX_BYTES,
        help=f"skip local files larger than this (default: {DEFAULT_MAX_BYTES})",
    )
    p.add_argument("--poll", action="store_true", help="poll the folder instead of OS change events (network drives)")
    p.add_argument(
        "--allow-tool-config",
        action="store_true",
        help="also mirror editor and tool configuration that can run code on this machine (.vscode/, .idea/, "
        ".envrc, .exrc, git hook folders, ...); version-control metadata (.git, .hg, ...) is never mirrored",
    )


def run(args: argparse.Namespace) -> int:
    try:
        args.link = link_arg.required_link_argument(args.link)
        check_arguments(args)
    except (JoinError, link_arg.LinkArgumentError) as exc:
        print(f"collab join: {exc}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(join(args))
    except (LinkError, ProviderError) as exc:
        print(f"collab join: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # the folder became unusable while mirroring (permissions, disk full)
        print(f"collab join: cannot write into {args.dir}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        # Only before the session starts: from then on Ctrl-C stops the mirror cleanly.
        print("collab join: interrupted while connecting to the hub", file=sys.stderr)
        return 130


def check_arguments(args: argparse.Namespace) -> None:
    """Refuse what cannot work before connecting, each with one line that says what to give instead."""
    if args.color is not None and not COLOR.fullmatch(args.color):
        raise JoinError(f"--color wants #rrggbb, like #30bced (got {args.color!r})")
    if args.max_file_bytes <= 0:
        raise JoinError(f"--max-file-bytes must be a positive number of bytes (got {args.max_file_bytes})")
    folder: Path = args.dir.expanduser()
    if folder.exists() and not folder.is_dir():
        raise JoinError(f"--dir {args.dir} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # Creating a file is the one honest test (permissions, read-only mounts, ACLs, root).
        with tempfile.TemporaryFile(dir=folder, prefix=".collab-probe-"):
            pass
    except OSError as exc:
        raise JoinError(f"cannot write into --dir {args.dir}: {exc.strerror or exc}") from None
    args.dir = folder


async def join(args: argparse.Namespace) -> int:
    name = args.name or getpass.getuser()
    device, kept = folder_device_key(args.dir / STATE_DIR)  # a rotation keeps this folder in (collab rotate)
    async with Session.connect(args.link, name=name, color=args.color, device_key=device) as session:
        session.set_field("kind", "mirror")  # the page's people list says "folder mirror" (docs/workspace.md)
        # Ctrl-C before this point cancels the connect (asyncio.run's own handler); from here on it
        # stops the mirror cleanly.
        stop = stop_on_signals()
        mirror = Mirror(
            session.workspace,
            args.dir,
            max_bytes=args.max_file_bytes,
            poll=args.poll,
            room=session.link.room,
            allow_tool_config=args.allow_tool_config,
            delivered=lambda: session.status is Status.CONNECTED and session.pending == 0,
        )
        await mirror.initial_sync()
        if not kept and session.link.keys is not None:  # only into a folder that is this room's
            keep(args.dir / STATE_DIR, device)
        print(
            f"mirroring room {session.link.room} into {args.dir} as {name} (Ctrl-C to stop)",
            file=sys.stderr,
            flush=True,
        )
        return await mirror_until_stopped(session, mirror, stop, "collab join", args.dir)


def stop_on_signals() -> asyncio.Event:
    """An event that Ctrl-C (SIGINT) or SIGTERM sets, instead of raising KeyboardInterrupt."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def mirror_until_stopped(session: Session, mirror: Mirror, stop: asyncio.Event, command: str, folder: Path) -> int:
    """Run a started mirror until ``stop`` (``stop_on_signals``) or the hub ends the session, then
    send what is left; the exit status and the last line are what ``collab join`` and a live
    ``collab share`` say."""
    watcher = asyncio.create_task(report_status(session, stop, command))
    try:
        await mirror.run(stop)
    finally:
        stop.set()
        await watcher  # its last look reports a reconnect that happened just before the stop
    if session.fatal is not None:
        return _ended_by_hub(session, folder, command)
    try:
        await asyncio.wait_for(session.wait_idle(), 5)
    except (asyncio.TimeoutError, ProviderError):
        if _has_ended(session):  # it may have ended while we waited (a property, not narrowed)
            return _ended_by_hub(session, folder, command)
        print(f"{command}: {session.pending} local edits not sent; they will be sent next time", file=sys.stderr)
    print(f"{command}: stopped; the folder is consistent", file=sys.stderr, flush=True)
    return 0


def _has_ended(session: Session) -> bool:
    return session.fatal is not None


def _ended_by_hub(session: Session, folder: Path, command: str = "collab join") -> int:
    unsent = session.pending
    kept = f"{unsent} local edits were not sent; they" if unsent else "your files"
    print(f"{command}: stopped; {kept} are kept in {folder}", file=sys.stderr, flush=True)
    return 1


async def report_status(
    session: Session,
    stop: asyncio.Event,
    command: str,
    *,
    on_fatal: bool = True,
    while_lost: str = "keep editing, changes are sent when it is back",
) -> None:
    """Tell the person at the terminal when the hub is lost and when it is back. With ``on_fatal``,
    also say why when the hub ends the session for good (room gone, refused) and set ``stop``."""
    # Polled, so the CONNECTING step between OFFLINE and CONNECTED may or may not be seen:
    # remember that we said "unreachable" rather than comparing with the previous status.
    lost = False
    while True:
        now = session.status
        if session.fatal is not None:
            if on_fatal:
                print(f"{command}: {session.fatal}", file=sys.stderr, flush=True)
                stop.set()
            return
        if now is Status.OFFLINE and not lost:
            lost = True
            print(f"{command}: hub unreachable; {while_lost}", file=sys.stderr, flush=True)
        elif now is Status.CONNECTED and lost:
            lost = False
            print(f"{command}: reconnected", file=sys.stderr, flush=True)
        if stop.is_set():
            return
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.2)
