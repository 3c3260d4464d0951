"""The in-process broker: hubs that share one event loop (tests, embedded) hear each other directly."""

from __future__ import annotations

from collab.broker.base import Handler, HubLost


class MemoryBus:
    """Shared between the MemoryBrokers of hubs that should see each other."""

    def __init__(self) -> None:
        self.subscribers: dict[str, dict[int, Handler]] = {}


class MemoryBroker:
    def __init__(self, bus: MemoryBus | None = None) -> None:
        self.bus = bus or MemoryBus()

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        for subs in self.bus.subscribers.values():
            subs.pop(id(self), None)

    def watch_hubs(self, own_id: bytes, on_lost: HubLost) -> None:
        return None  # hubs in one process do not die apart from each other

    async def subscribe(self, room: str, handler: Handler) -> None:
        self.bus.subscribers.setdefault(room, {})[id(self)] = handler

    async def unsubscribe(self, room: str) -> None:
        subs = self.bus.subscribers.get(room)
        if subs is not None:
            subs.pop(id(self), None)
            if not subs:
                del self.bus.subscribers[room]

    def publish(self, room: str, message: bytes) -> None:
        for owner, handler in list(self.bus.subscribers.get(room, {}).items()):
            if owner != id(self):
                handler(message)
