"""`collab join` when it cannot start: the reason, at once, once; Ctrl-C; values it refuses."""

from __future__ import annotations

import asyncio
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.client.cli import encrypted_link, error_lines, self_signed_tls, tcp_server, timed
from tests.support.ports import free_port
from tests.support.hub_process import HubProcess

PROMPT_S = 10  # "at once": well under the 30 s start timeout even on a loaded 2-core machine


@pytest.mark.parametrize("kind", ["encrypted", "plaintext"])
async def test_nothing_listening_is_reported_at_once(kind: str, tmp_path: Path) -> None:
    server = f"http://127.0.0.1:{free_port()}"
    link = encrypted_link(server) if kind == "encrypted" else f"{server}/s/some-room"
    result, took = await asyncio.to_thread(timed, "join", link, "--dir", str(tmp_path / "W"))
    assert result.returncode == 1, result.stderr
    assert took < PROMPT_S, f"took {took:.1f} s: {result.stderr}"
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and lines[0].startswith("collab join:"), result.stderr
    assert "connection refused" in lines[0] and "within" not in lines[0]


async def test_untrusted_certificate_is_named(tmp_path: Path) -> None:
    cert, key = self_signed_tls(tmp_path)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    async with tcp_server(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", tls) as port:
        link = encrypted_link(f"https://127.0.0.1:{port}")
        result, took = await asyncio.to_thread(timed, "join", link, "--dir", str(tmp_path / "W"))
    assert result.returncode == 1
    assert took < PROMPT_S, result.stderr
    assert "certificate verify failed" in result.stderr and "SSL_CERT_FILE" in result.stderr, result.stderr
    assert len(error_lines(result.stderr)) == 1, result.stderr


async def test_http_status_of_a_proxy_is_named(tmp_path: Path) -> None:
    reply = b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    async with tcp_server(reply) as port:
        link = encrypted_link(f"http://127.0.0.1:{port}")
        result, took = await asyncio.to_thread(timed, "join", link, "--dir", str(tmp_path / "W"))
    assert result.returncode == 1
    assert took < PROMPT_S, result.stderr
    assert "HTTP 502" in result.stderr, result.stderr


async def test_ctrl_c_while_connecting_says_interrupted(tmp_path: Path) -> None:
    connected = asyncio.Event()
    async with tcp_server(None, accepted=connected) as port:  # accepts, never answers the websocket handshake
        link = encrypted_link(f"http://127.0.0.1:{port}")
        cmd = [sys.executable, "-m", "collab", "join", link, "--dir", str(tmp_path / "W")]
        proc = await asyncio.create_subprocess_exec(*cmd, stderr=subprocess.PIPE)
        await asyncio.wait_for(connected.wait(), 30)  # imports done, connection open, handshake hanging
        start = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(proc.communicate(), 20)
    stderr = err.decode()
    assert proc.returncode == 130, stderr
    assert time.monotonic() - start < PROMPT_S
    assert error_lines(stderr) == ["collab join: interrupted while connecting to the hub"], stderr


async def test_refusal_is_printed_once(hub: HubProcess, tmp_path: Path) -> None:
    """A plaintext link to an encrypted room: one line with the reason, not the provider's too."""
    link = encrypted_link(hub.url)
    room = link.split("/s/")[1].split("#")[0]
    from collab.crypto.links import parse_link
    from collab.crypto.keys import b64url_encode

    keys = parse_link(link).keys
    assert keys is not None
    r = httpx.post(hub.url + "/api/rooms",
                   json={"kind": "encrypted", "room": room, "write_key": b64url_encode(keys.write_public_key)})
    assert r.status_code == 201
    result, _ = await asyncio.to_thread(timed, "join", f"{hub.url}/s/{room}", "--dir", str(tmp_path / "W"))
    assert result.returncode == 1
    lines = error_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("collab join: ") and "end-to-end encrypted" in lines[0] and "4403" in lines[0]
    assert "ws://" not in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--color", "red"], "--color wants #rrggbb"),
        (["--color", "#12345"], "--color wants #rrggbb"),
        (["--max-file-bytes", "-5"], "--max-file-bytes must be a positive"),
        (["--max-file-bytes", "0"], "--max-file-bytes must be a positive"),
    ],
)
def test_bad_values_are_refused_in_one_line(args: list[str], message: str, tmp_path: Path) -> None:
    from tests.client.cli import collab

    link = encrypted_link(f"http://127.0.0.1:{free_port()}")
    result = collab("join", link, "--dir", str(tmp_path / "W"), *args)
    assert result.returncode == 2
    assert error_lines(result.stderr) == [error_lines(result.stderr)[0]] and message in result.stderr, result.stderr
    assert not (tmp_path / "W").exists()  # refused before anything was touched


def test_dir_that_cannot_be_a_folder_is_one_line(tmp_path: Path) -> None:
    from tests.client.cli import collab

    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a folder\n")
    link = encrypted_link(f"http://127.0.0.1:{free_port()}")
    result = collab("join", link, "--dir", str(a_file))
    assert result.returncode == 2
    assert error_lines(result.stderr) == [f"collab join: --dir {a_file} is a file, not a folder"]
    under = collab("join", link, "--dir", str(a_file / "sub"))
    assert under.returncode == 2 and "Traceback" not in under.stderr
    assert error_lines(under.stderr) == [f"collab join: cannot write into --dir {a_file / 'sub'}: Not a directory"]


def test_read_only_dir_is_one_line(tmp_path: Path) -> None:
    import os

    from tests.client.cli import collab

    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    root = os.geteuid() == 0
    if root:  # permissions do not stop root: an immutable folder does
        subprocess.run(["chattr", "+i", str(folder)], check=True)
    try:
        result = collab("join", encrypted_link(f"http://127.0.0.1:{free_port()}"), "--dir", str(folder))
    finally:
        if root:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        folder.chmod(0o755)
    assert result.returncode == 2, result.stderr
    assert error_lines(result.stderr) == [f"collab join: cannot write into --dir {folder}: "
                                          f"{'Operation not permitted' if root else 'Permission denied'}"]
