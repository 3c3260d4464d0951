"""The Hub: settings, store, broker and metrics of one hub process, and the rooms it has loaded."""

from __future__ import annotations

import os

from collab.broker.base import Broker
from collab.config import Settings
from collab.hub.decoder import Decoder
from collab.hub.encrypted_room import EncryptedRoom
from collab.hub.metrics import HubMetrics
from collab.hub.registry import RoomRegistry
from collab.hub.room import Room
from collab.store.base import Store


class Hub:
    def __init__(self, settings: Settings, store: Store, broker: Broker) -> None:
        self.settings = settings
        self.store = store
        self.broker = broker
        self.metrics = HubMetrics()
        self.id = os.urandom(16)
        self.decoder = Decoder()  # large Yjs updates are decoded in a worker process
        idle = settings.room_idle_seconds
        self.plaintext_rooms: RoomRegistry[Room] = RoomRegistry(
            lambda name: Room(self, name), broker, idle_seconds=idle, kind="room"
        )
        self.encrypted_rooms: RoomRegistry[EncryptedRoom] = RoomRegistry(
            lambda name: EncryptedRoom(self, name), broker, idle_seconds=idle, kind="encrypted room"
        )
        self.accepting = True
        # Read at scrape time, so it counts both kinds of room without bookkeeping on every load.
        self.metrics.rooms_loaded.set_function(self._rooms_loaded)

    def _rooms_loaded(self) -> int:
        return len(self.plaintext_rooms) + len(self.encrypted_rooms)

    async def start(self) -> None:
        await self.store.open()
        self.store.set_commit_observer(self.metrics.observe_commit)
        await self.broker.start()
        # Brokers that can tell when another hub died (Redis heartbeats) report it, so the presence
        # of that hub's clients disappears here too.
        self.broker.watch_hubs(self.id, self._hub_lost)

    def _hub_lost(self, hub_id: bytes) -> None:
        self.plaintext_rooms.drop_remote_hub(hub_id)
        self.encrypted_rooms.drop_remote_hub(hub_id)

    async def stop(self) -> None:
        self.accepting = False
        await self.plaintext_rooms.close()
        await self.encrypted_rooms.close()
        await self.broker.close()
        await self.store.close()
        self.decoder.close()
