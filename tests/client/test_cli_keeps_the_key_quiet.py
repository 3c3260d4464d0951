"""The Python CLI never echoes a link's key (docs/e2ee.md "Links"): whatever goes wrong, what
`collab join` and `collab agent` print names the room, never the part after '#'."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from collab.crypto.keys import RoomKeys, generate_write_secret
from collab.crypto.links import read_link, write_link
from tests.client.cli import tcp_server, timed
from tests.support.ports import free_port


def _links(server: str) -> list[str]:
    keys = RoomKeys.from_write_secret(generate_write_secret())
    other = RoomKeys.from_write_secret(generate_write_secret())
    spliced = write_link(server, keys).split("#", 1)[0] + "#" + write_link(server, other).split("#", 1)[1]
    return [write_link(server, keys), read_link(server, keys), spliced, write_link(server, keys)[:-3]]


def _assert_quiet(link: str, printed: str) -> None:
    key = link.split("#", 1)[1].split("=", 1)[1]
    assert len(key) > 20
    for piece in (key, key[:16], key[-16:]):
        assert piece not in printed, printed


@pytest.mark.parametrize("command", ["join", "agent"])
async def test_no_key_in_what_the_cli_prints_when_nothing_listens(command: str, tmp_path: Path) -> None:
    for link in _links(f"http://127.0.0.1:{free_port()}"):
        extra = ["--dir", str(tmp_path / "W")] if command == "join" else ["--model", "builtin"]
        result, _ = await asyncio.to_thread(timed, command, link, *extra, timeout=60)
        assert result.returncode != 0
        _assert_quiet(link, result.stdout + result.stderr)


async def test_no_key_in_what_join_prints_behind_a_failing_proxy(tmp_path: Path) -> None:
    reply = b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    async with tcp_server(reply) as port:
        for link in _links(f"http://127.0.0.1:{port}"):
            result, _ = await asyncio.to_thread(timed, "join", link, "--dir", str(tmp_path / "W"), timeout=60)
            assert result.returncode != 0
            _assert_quiet(link, result.stdout + result.stderr)
