"""Raw sockets to a hub, written byte by byte as an attacker would: half-sent requests, bare upgrades
that then say nothing, any Host header. Blocking sockets; call them through ``asyncio.to_thread``."""

from __future__ import annotations

import base64
import os
import socket
from dataclasses import dataclass


@dataclass
class Reply:
    status: int
    head: str
    sock: socket.socket  # still open after a 101: the websocket


def send_upgrade(
    port: int, path: str, *, host: str | None = None, headers: dict[str, str] | None = None, timeout: float = 10.0
) -> Reply:
    """Open a TCP connection, ask for a websocket upgrade and read the answer's head."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host or f'127.0.0.1:{port}'}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        *(f"{k}: {v}" for k, v in (headers or {}).items()),
    ]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    return Reply(*read_head(sock), sock)


def read_head(sock: socket.socket) -> tuple[int, str]:
    """(status, head) of an HTTP answer; status 0 if the connection closed before one came."""
    data = b""
    while b"\r\n\r\n" not in data:
        try:
            chunk = sock.recv(1)
        except (ConnectionResetError, TimeoutError):
            chunk = b""
        if not chunk:
            break
        data += chunk
    head = data.decode(errors="replace")
    parts = head.split(" ", 2)
    return (int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0), head


def read_to_end(sock: socket.socket) -> bytes:
    """Everything the peer sends until it closes (raises TimeoutError if it keeps the socket open)."""
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


def http_get(port: int, path: str, host: str, timeout: float = 10.0) -> tuple[int, str]:
    """A GET with exactly this Host header: (status, whole answer)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        answer = read_to_end(sock).decode(errors="replace")
    parts = answer.split(" ", 2)
    return (int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0), answer
