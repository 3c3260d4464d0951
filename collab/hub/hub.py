"""The Hub: settings, store, broker and metrics of one hub process, and the rooms it has loaded."""

from __future__ import annotations

import asyncio
import logging
import os

from collab.broker.base import Broker
from collab.config import Settings
from collab.hub.metrics import HubMetrics
from collab.hub.room import Room
from collab.store.base import Store

log = logging.getLogger(__name__)


class Hub:
    def __init__(self, settings: Settings, store: Store, broker: Broker) -> None:
        self.settings = settings
        self.store = store
        self.broker = broker
        self.metrics = HubMetrics()
        self.id = os.urandom(16)
        self.rooms: dict[str, Room] = {}
        self._refs: dict[str, int] = {}
        self.accepting = True
        # Read at scrape time, so it counts both kinds of room without bookkeeping on every load.
        self.metrics.rooms_loaded.set_function(self._rooms_loaded)

    def _rooms_loaded(self) -> int:
        encrypted = getattr(self, "encrypted_rooms", None)  # set by collab.hub.encrypted on first use
        return len(self.rooms) + (len(encrypted.rooms) if encrypted is not None else 0)

    async def start(self) -> None:
        await self.store.open()
        if hasattr(self.store, "commit_observer"):
            self.store.commit_observer = self.metrics.observe_commit  # type: ignore[attr-defined]
        await self.broker.start()
        # Brokers that can tell when another hub died (Redis heartbeats) report it, so the presence
        # of that hub's clients disappears here too.
        watch = getattr(self.broker, "watch_hubs", None)
        if watch is not None:
            watch(self.id, self._hub_lost)

    def _hub_lost(self, hub_id: bytes) -> None:
        for room in list(self.rooms.values()):
            drop = getattr(room, "drop_remote_hub", None)
            if drop is not None:
                drop(hub_id)
        encrypted = getattr(self, "encrypted_rooms", None)  # set by collab.hub.encrypted on first use
        if encrypted is not None:
            encrypted.drop_remote_hub(hub_id)

    async def stop(self) -> None:
        self.accepting = False
        for name in list(self.rooms):
            room = self.rooms.pop(name)
            try:
                await room.close()
            except Exception as exc:
                log.warning("room %s did not close cleanly: %s", name, exc)
        await self.broker.close()
        await self.store.close()

    async def acquire(self, name: str) -> Room:
        """The loaded room, loading it on first use; every caller must ``release`` it."""
        self._refs[name] = self._refs.get(name, 0) + 1
        room = self.rooms.get(name)
        if room is None:
            room = Room(self, name)
            self.rooms[name] = room
            asyncio.create_task(self._load(room))
        if room.loaded is not None:
            await room.loaded.wait()
        if room.load_error is not None:
            self.release(room)
            raise room.load_error
        return room

    async def _load(self, room: Room) -> None:
        try:
            await room.load()
        except Exception as exc:
            log.error("room %s failed to load: %s", room.name, exc)
            if self.rooms.get(room.name) is room:
                del self.rooms[room.name]

    def release(self, room: Room) -> None:
        refs = self._refs.get(room.name, 1) - 1
        if refs > 0:
            self._refs[room.name] = refs
            return
        self._refs.pop(room.name, None)
        if self.rooms.get(room.name) is room and room.load_error is None:
            if room.unload_task is not None and not room.unloading:
                room.unload_task.cancel()
            room.unload_task = asyncio.create_task(self._unload_later(room))

    async def _unload_later(self, room: Room) -> None:
        await asyncio.sleep(self.settings.room_idle_seconds)
        if self._refs.get(room.name, 0) > 0 or self.rooms.get(room.name) is not room or room.unloading:
            return
        room.unloading = True
        try:
            while room.inflight:
                await asyncio.sleep(0.01)
            await room.close()
            if self._refs.get(room.name, 0) > 0:
                # Someone joined while the room was closing: it stays, listening to other hubs again.
                await self.broker.subscribe(room.name, room.on_relay)
            elif self.rooms.get(room.name) is room:
                del self.rooms[room.name]
                log.debug("room %s unloaded", room.name)
        finally:
            room.unloading = False
