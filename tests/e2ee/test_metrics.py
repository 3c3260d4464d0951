"""/metrics counts encrypted rooms (the default kind) like plaintext ones."""

from __future__ import annotations

from tests.e2ee.support import joined, new_room
from tests.support.hub_process import HubProcess
from tests.support.metrics import scrape
from tests.support.waiting import eventually


async def test_loaded_encrypted_rooms_are_counted_and_uncounted(hub: HubProcess) -> None:
    assert scrape(hub.url)["collab_rooms_loaded"] == 0
    first, second = new_room(hub), new_room(hub)
    async with joined(hub, first), joined(hub, first), joined(hub, second):
        stats = scrape(hub.url)
        assert stats["collab_rooms_loaded"] == 2
        assert stats["collab_connections"] == 3
    # Both rooms unload once nobody is in them (the hub under test unloads after 0.5 s).
    await eventually(lambda: scrape(hub.url)["collab_rooms_loaded"] == 0, timeout=15)
