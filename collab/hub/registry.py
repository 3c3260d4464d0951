"""The rooms of one kind a hub has loaded: loaded once on first join, unloaded when idle.

Plaintext and encrypted rooms share this registry; a room only says how it loads and closes. The
registry holds each room's reference count, its idle timer and its broker subscription (taken
before the room loads, so nothing other hubs send meanwhile is missed).
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial
from typing import Awaitable, Callable, Generic, Iterator, Protocol, TypeVar

from collab.broker.base import Broker
from collab.protocol.relay import RelayMessage, decode_relay

log = logging.getLogger(__name__)


class ManagedRoom(Protocol):
    """What a room offers to be shared, loaded and unloaded by a RoomRegistry."""

    @property
    def name(self) -> str: ...

    @property
    def inflight(self) -> int:
        """Writes handed to the store and not resolved yet: a room is not closed under them."""
        ...

    def on_relay(self, message: RelayMessage) -> None:
        """Traffic other hubs accepted for this room."""
        ...

    async def load(self) -> None:
        """Read what the room needs from the store (once, after its broker subscription)."""
        ...

    async def close(self) -> None:
        """Unload: keep what only memory holds. The broker subscription is the registry's."""
        ...

    def drop_remote_hub(self, hub_id: bytes) -> None:
        """Another hub died: the presence of its clients goes for everyone here."""
        ...


R = TypeVar("R", bound=ManagedRoom)


class _Slot(Generic[R]):
    """One room and its bookkeeping; slotted, since a hub holds many idle rooms."""

    __slots__ = ("room", "refs", "loaded", "error", "unload_task", "unloading")

    def __init__(self, room: R) -> None:
        self.room = room
        self.refs = 0
        # Dropped once set: an Event (with its waiter deque) costs ~0.9 kB, and a hub holds many idle rooms.
        self.loaded: asyncio.Event | None = asyncio.Event()
        self.error: BaseException | None = None
        self.unload_task: asyncio.Task[None] | None = None  # set while it waits out the idle time
        self.unloading = False  # closing: a join now keeps the room


class RoomRegistry(Generic[R]):
    def __init__(self, new_room: Callable[[str], R], broker: Broker, *, idle_seconds: float, kind: str) -> None:
        self._new_room = new_room
        self._broker = broker
        self._idle_seconds = idle_seconds
        self._kind = kind  # for the log: "room", "encrypted room"
        self._slots: dict[str, _Slot[R]] = {}

    def __len__(self) -> int:
        return len(self._slots)

    def __iter__(self) -> Iterator[R]:
        return iter([slot.room for slot in self._slots.values()])

    async def acquire(self, name: str) -> R:
        """The loaded room, loading it on first use; raises what its load raised. Every room
        returned must be given back with ``release``."""
        slot = self._slots.get(name)
        if slot is None:
            slot = self._slots[name] = _Slot(self._new_room(name))
            asyncio.create_task(self._load(slot))
        slot.refs += 1
        if slot.unload_task is not None:  # still waiting out the idle time: the room stays
            slot.unload_task.cancel()
            slot.unload_task = None
        if slot.loaded is not None:
            await slot.loaded.wait()
        if slot.error is not None:
            slot.refs -= 1
            raise slot.error
        return slot.room

    async def _load(self, slot: _Slot[R]) -> None:
        room = slot.room
        try:
            await self._subscribe(room)
            await room.load()
        except BaseException as exc:
            slot.error = exc
            log.error("%s %s failed to load: %s", self._kind, room.name, exc)
            if self._slots.get(room.name) is slot:
                del self._slots[room.name]
            if not isinstance(exc, Exception):
                raise
        finally:
            loaded, slot.loaded = slot.loaded, None
            if loaded is not None:
                loaded.set()

    def release(self, room: R) -> None:
        slot = self._slots.get(room.name)
        if slot is None or slot.room is not room:
            return  # the hub stopped: nothing is unloaded later
        slot.refs -= 1
        if slot.refs <= 0 and slot.error is None:
            if slot.unload_task is not None:
                slot.unload_task.cancel()
            slot.unload_task = asyncio.create_task(self._unload_later(slot))

    async def _unload_later(self, slot: _Slot[R]) -> None:
        room = slot.room
        await asyncio.sleep(self._idle_seconds)  # whoever cancels it here also lets go of the task
        if slot.unload_task is asyncio.current_task():
            slot.unload_task = None
        if slot.refs > 0 or self._slots.get(room.name) is not slot or slot.unloading:
            return
        slot.unloading = True
        try:
            while room.inflight:
                await asyncio.sleep(0.01)
            await room.close()
            await self._broker.unsubscribe(room.name)
            if slot.refs > 0:
                # Someone joined while the room was closing: it stays, listening to other hubs again.
                await self._subscribe(room)
            elif self._slots.get(room.name) is slot:
                del self._slots[room.name]
                log.debug("%s %s unloaded", self._kind, room.name)
        finally:
            slot.unloading = False

    def _subscribe(self, room: R) -> Awaitable[None]:
        return self._broker.subscribe(room.name, partial(self._on_relay, room))

    def _on_relay(self, room: R, data: bytes) -> None:
        try:
            message = decode_relay(data)
        except ValueError:
            log.warning("%s %s: dropping malformed relay message", self._kind, room.name)
            return
        room.on_relay(message)

    def drop_remote_hub(self, hub_id: bytes) -> None:
        for room in self:
            room.drop_remote_hub(hub_id)

    async def close(self) -> None:
        """Unload every room now (the hub is stopping); later releases unload nothing."""
        for name in list(self._slots):
            room = self._slots.pop(name).room
            try:
                await room.close()
                await self._broker.unsubscribe(name)
            except Exception as exc:
                log.warning("%s %s did not close cleanly: %s", self._kind, name, exc)
