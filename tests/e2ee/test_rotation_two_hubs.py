"""A rotation on one hub reaches the members of another hub serving the same room (Redis): the other
hub hears it over the broker, takes the new keys from the shared store and sends its members off to
come back with theirs; the removed member there stops too."""

from __future__ import annotations

import asyncio
import contextlib
from typing import AsyncIterator, Callable

import pycrdt
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from collab.client.encrypted import EncryptedProvider
from collab.client.roster import roster
from collab.commands.new import create_encrypted_room
from collab.crypto.keys import RoomKeys
from collab.crypto.links import websocket_url
from tests.support.hub_process import HubProcess


async def until(check: Callable[[], bool], timeout: float = 20.0) -> None:
    async def wait() -> None:
        while not check():
            await asyncio.sleep(0.05)

    await asyncio.wait_for(wait(), timeout)


@contextlib.asynccontextmanager
async def member(hub: HubProcess, keys: RoomKeys, name: str) -> AsyncIterator[EncryptedProvider]:
    provider = EncryptedProvider(keys, websocket_url(hub.url, keys.room_id), device_key=X25519PrivateKey.generate(), device_name=name)
    await asyncio.wait_for(provider.start(), 20)
    try:
        yield provider
    finally:
        await provider.stop()


def text(p: EncryptedProvider) -> str:
    return str(p.doc.get("code", type=pycrdt.Text))


async def test_a_rotation_on_one_hub_moves_the_members_of_the_other(two_hubs: tuple[HubProcess, HubProcess]) -> None:
    a, b = two_hubs
    keys = create_encrypted_room(a.url)
    async with member(a, keys, "ada") as ada, member(b, keys, "bob") as bob, member(b, keys, "cy") as cy:
        ada.doc.get("code", type=pycrdt.Text).insert(0, "x")
        await until(lambda: text(bob) == "x" and text(cy) == "x" and len(roster(ada.doc)) == 3)
        for p in (ada, bob, cy):
            await p.flush()
        await ada.rotate(remove=("cy",))
        await until(lambda: bob.keys.epoch == 1 and cy.fatal is not None)
        bob.doc.get("code", type=pycrdt.Text).insert(1, "y")
        await until(lambda: text(ada) == "xy")
        assert text(cy) == "x"
