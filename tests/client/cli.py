"""Run the `collab` command as a person would: a real subprocess, its exit status and stderr lines."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import AsyncIterator

from collab.crypto import write_link
from collab.crypto.keys import RoomKeys, generate_write_secret


def collab(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "collab", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def timed(*args: str, **kw: object) -> tuple[subprocess.CompletedProcess[str], float]:
    start = time.monotonic()
    result = collab(*args, **kw)  # type: ignore[arg-type]
    return result, time.monotonic() - start


def encrypted_link(server: str) -> str:
    """A well-formed encrypted link to a room that no hub has ever heard of."""
    return write_link(server, RoomKeys.from_write_secret(generate_write_secret()))


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


@contextlib.asynccontextmanager
async def tcp_server(
    reply: bytes | None, ssl_context: object = None, *, accepted: asyncio.Event | None = None
) -> AsyncIterator[int]:
    """A real TCP (or TLS) server on a free port: answers every connection with ``reply`` and
    closes, or with ``reply=None`` accepts and then says nothing at all (a hung proxy).
    ``accepted`` is set once a connection came in."""
    held: list[asyncio.StreamWriter] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if accepted is not None:
            accepted.set()
        if reply is None:
            held.append(writer)
            return
        with contextlib.suppress(Exception):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(reply)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=ssl_context)  # type: ignore[arg-type]
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for w in held:
            w.close()
        server.close()


def self_signed_tls(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    return cert, key
