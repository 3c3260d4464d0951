"""The bridge's stdin and stdout as asyncio streams, with stdout kept for the protocol alone.

Anything else that writes to fd 1 (a library's print, a warning) would corrupt the framing, so the
protocol gets a duplicate of fd 1 and fd 1 itself is pointed at stderr.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Callable


async def open_stdio() -> tuple[asyncio.StreamReader, Callable[[bytes], None]]:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin.buffer)
    sys.stdout.flush()
    protocol_fd = os.dup(sys.stdout.fileno())
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    out = os.fdopen(protocol_fd, "wb", buffering=0)
    transport, _ = await loop.connect_write_pipe(asyncio.BaseProtocol, out)
    return reader, transport.write
