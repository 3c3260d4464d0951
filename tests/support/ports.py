"""Free loopback ports for servers the tests start (hubs, Redis, stubs) and for "nothing listens here"."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now.

    The socket closes before the port is used, so another process may take it in between; the
    kernel hands out ephemeral ports in turn, which makes that rare even with parallel workers.
    """
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
