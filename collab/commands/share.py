"""`collab share PATH`: create a room from a folder, upload its files, print the links, and keep the
folder live (a mirror, as `collab join` runs one) until Ctrl-C; `--once` exits after the upload."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from pathlib import Path

from collab.client.device import folder_device_key, keep
from collab.client.folderstate import STATE_DIR
from collab.client.localfs import DEFAULT_MAX_BYTES
from collab.client.mirror import Mirror
from collab.client.provider import ProviderError, Status
from collab.client.session import Session
from collab.commands.join import mirror_until_stopped, report_status, stop_on_signals
from collab.crypto import LinkError, plaintext_link, read_link, write_link
from collab.crypto.links import normalize_server_base

HELP = "share a folder: create a session from it, print its links and keep the folder live (--once: upload and exit)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from collab.commands.new import add_server_argument

    p.add_argument("path", type=Path, help="the folder to share")
    add_server_argument(p)
    p.add_argument("--plaintext", action="store_true", help="a plaintext room (the hub can read it) instead of E2EE")
    p.add_argument("--name", default=None, help="your name in presence (default: your login)")
    p.add_argument("--once", action="store_true",
                   help="upload, print the link and exit, instead of keeping the folder live until Ctrl-C")
    p.add_argument("--poll", action="store_true", help="poll the folder instead of OS change events (network drives)")
    p.add_argument(
        "--max-file-bytes",
        type=int,
        default=DEFAULT_MAX_BYTES,
        help=f"skip files larger than this (default: {DEFAULT_MAX_BYTES})",
    )


def run(args: argparse.Namespace) -> int:
    if not args.path.is_dir():
        print(f"collab share: {args.path} is not a folder", file=sys.stderr)
        return 2
    if args.max_file_bytes <= 0:
        print(f"collab share: --max-file-bytes must be a positive number of bytes (got {args.max_file_bytes})",
              file=sys.stderr)
        return 2
    progress = Progress()
    try:
        return asyncio.run(share(args, progress))
    except (LinkError, ProviderError, ShareError) as exc:
        print(f"collab share: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # the folder became unusable while kept live (permissions, disk full)
        print(f"collab share: cannot write into {args.path}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"collab share: interrupted; {progress.describe()}", file=sys.stderr)
        return 130


class ShareError(RuntimeError):
    pass


class Progress:
    """How far a share got, for the line printed when it is interrupted."""

    def __init__(self) -> None:
        self.session: Session | None = None
        self.shared = False  # every file is on the hub and the link was printed

    def describe(self) -> str:
        session = self.session
        if self.shared:
            return "the room has every file; its link works"
        if session is None:
            return "no room was filled (nothing uploaded)"
        files = len(session.workspace.paths())
        if session.pending:
            stored = f"{files} files were read, {session.pending} changes not yet stored by the hub"
        else:
            stored = f"{files} files were stored"
        return f"{stored}; room {session.link.room} is incomplete: do not use its link, share the folder again"


def encrypted_available() -> bool:
    try:
        import collab.client.encrypted  # noqa: F401
    except ImportError:
        return False
    return True


async def create_room(server: str, *, encrypted: bool) -> str:
    """Register a room with the hub and return its share link (the secret never leaves this machine)."""
    from collab.commands.new import RoomCreationError, create_encrypted_room, create_plaintext_room

    server = normalize_server_base(server)
    try:
        if encrypted:
            return write_link(server, await asyncio.to_thread(create_encrypted_room, server))
        return plaintext_link(server, await asyncio.to_thread(create_plaintext_room, server))
    except RoomCreationError as exc:
        raise ShareError(str(exc)) from exc


async def share(args: argparse.Namespace, progress: Progress) -> int:
    encrypted = not args.plaintext
    if encrypted and not encrypted_available():
        print("collab share: no encrypted client in this build; creating a plaintext room", file=sys.stderr)
        encrypted = False
    link = await create_room(args.server, encrypted=encrypted)
    device, kept = folder_device_key(args.path / STATE_DIR)  # a rotation keeps this folder in (collab rotate)
    async with Session.connect(link, name=args.name or getpass.getuser(), device_key=device) as session:
        session.set_field("kind", "mirror")  # the page's people list says "folder mirror" (docs/workspace.md)
        progress.session = session
        print(f"collab share: uploading {args.path} into room {session.link.room}", file=sys.stderr, flush=True)
        done = asyncio.Event()
        watcher = asyncio.create_task(
            report_status(session, done, "collab share", on_fatal=False, while_lost="the upload resumes when it is back")
        )
        try:
            mirror = Mirror(
                session.workspace,
                args.path,
                max_bytes=args.max_file_bytes,
                poll=args.poll,
                room=session.link.room,
                new_room=True,
                delivered=lambda: session.status is Status.CONNECTED and session.pending == 0,
            )
            await mirror.initial_sync()
            if encrypted and not kept:
                keep(args.path / STATE_DIR, device)
            count = len(session.workspace.paths())
            await session.wait_idle()  # raises the hub's reason when it ends the session (too big, refused)
        finally:
            done.set()
            await watcher
        if not await session.provider.confirm():
            raise ShareError("the hub did not confirm it stored every file; try again")
        refused = session.provider.refused
        if refused:
            raise ShareError(f"the hub refused {len(refused)} changes ({refused[0]}); the room is incomplete")
        stop = None if args.once else stop_on_signals()  # from here on Ctrl-C stops the live folder cleanly
        print(f"shared {count} files", file=sys.stderr)
        print(link, flush=True)  # stdout holds the write link alone: `collab share DIR | collab join - ...`
        keys = session.link.keys
        if keys is not None:
            print(f"read-only link: {read_link(session.link.server_base, keys)}", file=sys.stderr, flush=True)
        progress.shared = True
        if stop is None:
            return 0
        print(
            f"collab share: keeping {args.path} live in room {session.link.room}: edits here reach the session and "
            "the session's reach this folder (Ctrl-C to stop)",
            file=sys.stderr,
            flush=True,
        )
        return await mirror_until_stopped(session, mirror, stop, "collab share", args.path)
