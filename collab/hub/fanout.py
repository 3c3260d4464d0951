"""A room's durable updates, sent to its connections once per pass of the event loop.

A group commit makes many updates durable at once, and their futures' callbacks run one after the
other. Sending each update to each receiver as it comes would cost one frame (and one ``send()``
syscall) per update per receiver; instead the room collects them and, in a callback queued behind
them, merges the batch once (``pycrdt.merge_updates``) and encodes one frame for everyone. The
writer of an update never gets it back: each writer in the batch gets the merge of the others'.
Several hubs' relayed updates are collected the same way (with no writer here).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Iterable

import pycrdt

from collab.hub.direct_write import binary_frame
from collab.protocol import yjs

if TYPE_CHECKING:
    from collab.hub.connection import Connection

log = logging.getLogger(__name__)


class FanOut:
    def __init__(self, connections: set[Connection]) -> None:
        self._connections = connections
        self._batch: list[tuple[bytes, Connection | None]] = []

    def add(self, update: bytes, origin: Connection | None) -> None:
        """Send ``update`` (applied and durable) to everyone but ``origin``, soon."""
        if not self._batch:
            asyncio.get_running_loop().call_soon(self._flush)
        self._batch.append((update, origin))

    def _flush(self) -> None:
        batch, self._batch = self._batch, []
        if len(batch) == 1:
            update, origin = batch[0]
            _send(update, (c for c in self._connections if c is not origin))
            return
        merged = _merge([update for update, _ in batch])
        if merged is None:  # cannot happen with updates the room has applied; never lose one
            for update, origin in batch:
                _send(update, (c for c in self._connections if c is not origin))
            return
        origins = {origin for _, origin in batch if origin is not None}
        _send(merged, (c for c in self._connections if c not in origins))
        for origin in origins:
            if origin not in self._connections:
                continue
            others = [update for update, o in batch if o is not origin]
            mine = others[0] if len(others) == 1 else _merge(others) if others else None
            if mine is not None:
                _send(mine, (origin,))
            else:
                for update in others:
                    _send(update, (origin,))


def _merge(updates: list[bytes]) -> bytes | None:
    try:
        return pycrdt.merge_updates(*updates)
    except Exception as exc:
        log.warning("merging %d updates for fan-out failed: %s", len(updates), exc)
        return None


def _send(update: bytes, receivers: Iterable[Connection]) -> None:
    frame = yjs.sync_update(update)
    wire = binary_frame(frame)
    for conn in receivers:
        conn.send_update(update, frame, wire)
