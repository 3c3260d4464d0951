"""Which other hubs are alive: each hub keeps a key with a short TTL fresh; a key that is gone means
that hub died (kill -9, lost network), and its clients' presence must go with it.

A hub is declared lost only after two checks in a row miss its key, so a hub that has just started
publishing but not yet written its first heartbeat is not mistaken for a dead one.
"""

from __future__ import annotations

import logging

from collab.broker.base import HubLost
from collab.redis.connection import Client
from collab.redis.keys import hub_key

log = logging.getLogger(__name__)


class Heartbeats:
    def __init__(self, ttl_ms: int = 3000) -> None:
        self.ttl_ms = ttl_ms
        self.own_id: bytes | None = None
        self.on_lost: HubLost | None = None
        self._peers: dict[bytes, int] = {}  # hub id -> consecutive checks that found no heartbeat

    def heard(self, hub_id: bytes) -> None:
        """A message from ``hub_id`` arrived: watch it from now on."""
        if hub_id != self.own_id and hub_id not in self._peers:
            self._peers[hub_id] = 0

    async def beat(self, redis: Client) -> None:
        if self.own_id is not None:
            await redis.set(hub_key(self.own_id), b"1", px=self.ttl_ms)

    async def check(self, redis: Client) -> None:
        if not self._peers:
            return
        peers = list(self._peers)
        pipe = redis.pipeline(transaction=False)
        for hub_id in peers:
            pipe.exists(hub_key(hub_id))
        alive = await pipe.execute()
        for hub_id, exists in zip(peers, alive):
            if exists:
                self._peers[hub_id] = 0
                continue
            self._peers[hub_id] += 1
            if self._peers[hub_id] >= 2:
                del self._peers[hub_id]
                log.info("hub %s stopped sending heartbeats: dropping its clients' presence", hub_id.hex()[:8])
                if self.on_lost is not None:
                    self.on_lost(hub_id)

    async def stop(self, redis: Client) -> None:
        """A clean shutdown says so at once, so others need not wait for the TTL."""
        if self.own_id is not None:
            await redis.delete(hub_key(self.own_id))
