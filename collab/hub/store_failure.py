"""What the hub does when its store fails it, the same for both kinds of room."""

from __future__ import annotations

import logging

from starlette.websockets import WebSocket

from collab.hub.connection import Connection
from collab.hub.metrics import HubMetrics
from collab.protocol import close_codes
from collab.store.base import StoreUnavailable

log = logging.getLogger(__name__)

UNAVAILABLE = "room storage unavailable, try again shortly"


def write_failed(metrics: HubMetrics, room: str, exc: BaseException) -> None:
    """A write the store did not make durable: counted; logged only when it is not an outage
    (StoreUnavailable is expected while the store is away, and the writer is told to retry)."""
    metrics.store_errors.inc()
    if not isinstance(exc, StoreUnavailable):
        log.error("room %s: unexpected store failure: %r", room, exc)


async def close_unavailable(ws: WebSocket | Connection, room: str, exc: BaseException) -> None:
    """Close an accepted websocket whose room the store cannot serve now: the client retries."""
    log.error("room %s unavailable: %s", room, exc)
    await ws.close(close_codes.TRY_AGAIN, UNAVAILABLE)
