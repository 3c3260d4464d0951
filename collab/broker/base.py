"""The Broker interface: how a hub hears what other hubs accepted for the rooms it serves.

A hub fans out to its own connections directly; the broker only carries traffic to *other* hubs.
Messages are opaque bytes (see collab.protocol.relay for their framing).
"""

from __future__ import annotations

from typing import Callable, Protocol

Handler = Callable[[bytes], None]
# Called with the id of another hub that stopped answering: its clients' presence must go.
HubLost = Callable[[bytes], None]


class Broker(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    def watch_hubs(self, own_id: bytes, on_lost: HubLost) -> None:
        """This hub is ``own_id``; call ``on_lost(hub_id)`` when another hub sharing rooms dies.
        A broker that cannot tell (one process, in memory) never calls it."""
        ...

    async def subscribe(self, room: str, handler: Handler) -> None:
        """Deliver every message other hubs publish for ``room`` to ``handler`` until unsubscribed."""
        ...

    async def unsubscribe(self, room: str) -> None: ...

    def publish(self, room: str, message: bytes) -> None:
        """Send without waiting; brokers keep their own bounded queue."""
        ...
