"""Let the hub drop a websocket's TCP connection outright.

ASGI has no "abort": a close frame waits behind whatever is queued for the peer, and a peer that
does not read never gets it, so its socket (and the server's buffer for it) would linger. uvicorn's
``send`` callable is a method of its protocol object, which owns the transport; the websocket
entry (collab.hub.shortcut), which sees ``send`` before anything wraps it, puts the transport's
``abort`` in the scope.
"""

from __future__ import annotations

from typing import Callable

from starlette.types import Scope, Send
from websockets.datastructures import Headers

ABORT_SCOPE_KEY = "collab.abort"
# The server's ``send`` before anything wraps it: connections send their frames through it directly.
RAW_SEND_SCOPE_KEY = "collab.send"


def expose_transport(scope: Scope, send: Send) -> None:
    """Put the server's ``send`` and, where it has one, its transport's ``abort`` into ``scope``."""
    # In place, not a copy: the scope lives as long as the connection and a second dict costs ~1 kB.
    scope[RAW_SEND_SCOPE_KEY] = send
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    abort: Callable[[], None] | None = getattr(transport, "abort", None)
    if abort is not None:
        scope[ABORT_SCOPE_KEY] = abort


def forget_handshake(send: Send) -> None:
    """Let go of the handshake's parsed request and response once the websocket is accepted.

    uvicorn's websockets-sansio protocol keeps both (headers as dicts and lists of strings) for
    the connection's life, about 4 kB per connection (tracemalloc), though nothing reads them after
    the accept. Servers without these attributes, or not past the handshake, are left alone.
    """
    protocol = getattr(send, "__self__", None)
    if protocol is None or getattr(protocol, "handshake_complete", False) is not True:
        return
    # websockets' parser keeps the request in its generator's frame for the connection's life
    # too (another 1.5 kB of headers): empty them in place.
    headers = getattr(getattr(protocol, "request", None), "headers", None)
    if isinstance(headers, Headers):
        headers.clear()
    for name in ("request", "response"):
        if getattr(protocol, name, None) is not None:
            setattr(protocol, name, None)
