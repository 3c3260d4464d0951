"""`collab editor`: the bridge an editor plugin starts (JSON-RPC on stdin/stdout, docs/editor-protocol.md)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import sys

from collab.editor.bridge import Bridge
from collab.editor.rpc import Endpoint
from collab.editor.stdio import open_stdio

HELP = "the bridge an editor plugin starts: JSON-RPC over stdio (docs/editor-protocol.md)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--name", default=None, help="your name in the session when join gives none (default: your login)")
    p.add_argument("--log-level", default="warning", help="what the bridge logs to stderr (default: warning)")


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr, format="collab editor: %(message)s")
    try:
        asyncio.run(serve(args.name or getpass.getuser()))
    except KeyboardInterrupt:
        return 130
    return 0


async def serve(name: str) -> None:
    reader, write = await open_stdio()
    endpoint = Endpoint(reader, write)
    bridge = Bridge(endpoint, name=name)
    serving = asyncio.create_task(endpoint.serve())
    left = asyncio.create_task(bridge.left.wait())
    try:
        await asyncio.wait({serving, left}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        serving.cancel()
        left.cancel()
        await bridge.close()  # the editor went away: send what is pending, leave the room
