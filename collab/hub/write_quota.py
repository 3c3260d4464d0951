"""How fast a connection, and a room, may write: bytes a second after a burst, token buckets.

One client wrote 150 MiB into one room in 11 s: everything it writes is stored, decoded and relayed,
so an unbounded writer fills the disk and takes the event loop from every other room. Every frame a
client sends is counted (updates, snapshots, presence alike) against its connection's bucket and its
room's bucket, in the receive loop both protocols share; a frame the buckets cannot pay for closes
the connection with RATE_LIMITED. The burst is what real work needs at once: `collab share` of a
300 MB folder (6,000 files, 57 MiB of text) sent 57 MiB at 8-19 MiB/s, a paste is at most one
frame; typing is bytes a second. A new connection gets a fresh burst of its own, so the room's
bucket (shared by all its connections on this hub) bounds a client that reconnects to write more.
"""

from __future__ import annotations

import time
from typing import Callable

from collab.hub.rate_limit import TokenBucket, TokenBuckets

MIB = 1024 * 1024


def _mib(n: float) -> str:
    return f"{n / MIB:g} MiB"


class WriteQuota:
    def __init__(
        self,
        *,
        connection_rate: float,
        connection_burst: float,
        room_rate: float,
        room_burst: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.connection_rate = connection_rate
        self.connection_burst = connection_burst
        self.rooms = TokenBuckets.of(room_rate, room_burst, clock)
        self._clock = clock

    def bucket(self) -> TokenBucket | None:
        """A new connection's bucket, full; None when connections are not limited."""
        if self.connection_rate <= 0:
            return None
        return TokenBucket(self.connection_rate, self.connection_burst, self._clock())

    def spend(self, bucket: TokenBucket | None, room: str, size: int) -> str | None:
        """Count ``size`` bytes written through ``bucket`` into ``room``: None, or why it is too much."""
        if bucket is not None and bucket.take(size, self._clock()) > 0:
            return (
                f"rate limited: this connection wrote more than {_mib(bucket.capacity)} at once "
                f"or {_mib(bucket.rate)} a second"
            )
        if self.rooms.take(room, size) > 0:
            return (
                f"rate limited: this room was written more than {_mib(self.rooms.capacity)} at once "
                f"or {_mib(self.rooms.rate)} a second"
            )
        return None
