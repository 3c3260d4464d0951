"""Direct messages through both providers and a real hub (``collab serve``, docs/protocol.md
"Direct messages"): a message sent to a peer's Yjs client id reaches that peer alone, from the
sender's client id; in an encrypted room what a member sends is opened, replay-checked on its own
counter sequence and read like presence before anyone's handler sees it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any, AsyncIterator

from collab.client.encrypted import EncryptedProvider
from collab.client.plaintext import PlaintextProvider
from collab.crypto.keys import RoomKeys
from collab.protocol import relay_frames as frames
from collab.protocol import yjs
from collab.protocol.envelope import new_author_id, seal_awareness
from tests.e2ee.support import RawClient, new_room, raw_client, room_url
from tests.support.hub_process import HubProcess
from tests.support.waiting import eventually

Provider = PlaintextProvider | EncryptedProvider
Got = list[tuple[int, dict[str, Any]]]


def listen(provider: Provider) -> Got:
    got: Got = []
    provider.on_direct(lambda sender, message: got.append((sender, message)))
    return got


@contextlib.asynccontextmanager
async def three(hub: HubProcess, keys: RoomKeys | None) -> AsyncIterator[list[Provider]]:
    """Ann, Bob and Cleo in one room, each with presence (a peer is addressable once its presence is in)."""
    providers: list[Provider] = [
        EncryptedProvider(keys, room_url(hub, keys)) if keys is not None
        else PlaintextProvider(f"{hub.ws_url}/ws/direct-providers")
        for _ in range(3)
    ]
    try:
        for p, name in zip(providers, ("ann", "bob", "cleo")):
            await p.start(timeout=20)
            p.awareness.set_local_state({"user": {"name": name}})
        ids = {p.awareness.client_id for p in providers}
        await eventually(lambda: all(ids <= set(p.awareness.states) for p in providers), 10, what="everyone's presence")
        yield providers
    finally:
        for p in providers:
            await p.stop()


async def only_the_addressee_hears_it(providers: list[Provider]) -> None:
    ann, bob, cleo = providers
    heard = [listen(p) for p in providers]
    ann.send_direct(bob.awareness.client_id, {"inline_reply": {"id": "r1", "text": "für Bob ✓", "done": False}})
    ann.send_direct(cleo.awareness.client_id, {"n": 1})
    await eventually(lambda: heard[1] and heard[2], 10, what="bob's and cleo's messages")
    assert heard[1] == [(ann.awareness.client_id, {"inline_reply": {"id": "r1", "text": "für Bob ✓", "done": False}})]
    assert heard[2] == [(ann.awareness.client_id, {"n": 1})]
    # To someone nobody speaks for: dropped (here, or by the hub), no error, no one else gets it.
    ann.send_direct(987654321, {"lost": True})
    bob.send_direct(ann.awareness.client_id, {"back": "to ann"})
    await eventually(lambda: heard[0], 10, what="ann's message")
    assert heard[0] == [(bob.awareness.client_id, {"back": "to ann"})]
    # Unsubscribed: the handler hears no more.
    stop = cleo.on_direct(lambda *_: heard[2].append((0, {"twice": True})))
    stop()
    ann.send_direct(cleo.awareness.client_id, {"n": 2})
    await eventually(lambda: len(heard[2]) == 2, 10, what="cleo's second message")
    await asyncio.sleep(0.3)
    assert heard[2][1] == (ann.awareness.client_id, {"n": 2}) and len(heard[2]) == 2
    assert len(heard[1]) == 1  # nothing of anyone else's reached Bob


async def test_a_plaintext_rooms_direct_message_reaches_its_addressee_alone(hub: HubProcess) -> None:
    async with three(hub, None) as providers:
        await only_the_addressee_hears_it(providers)


async def test_an_encrypted_rooms_direct_message_reaches_its_addressee_alone(hub: HubProcess) -> None:
    async with three(hub, new_room(hub)) as providers:
        await only_the_addressee_hears_it(providers)


async def test_not_connected_or_not_a_json_object_is_not_sent(hub: HubProcess) -> None:
    for provider in (PlaintextProvider(f"{hub.ws_url}/ws/direct-offline"), EncryptedProvider(new_room(hub), "ws://x/y")):
        provider.send_direct(1, {"a": 1})  # never started: dropped, no error
        assert provider.direct.dropped == 1 and provider.direct.sent == 0
        for bad in ([1, 2], "text", None):
            with contextlib.suppress(ValueError):
                provider.send_direct(1, bad)  # type: ignore[arg-type]
                raise AssertionError(f"{bad!r} was accepted")


class Member:
    """A raw member of an encrypted room: seals its own presence and direct messages, as any client could."""

    def __init__(self, client: RawClient, keys: RoomKeys, conn_id: int) -> None:
        self.client, self.keys, self.conn_id = client, keys, conn_id
        self.session = new_author_id()

    async def presence(self, client_id: int, counter: int) -> None:
        update = yjs.encode_awareness([yjs.AwarenessEntry(client_id, 1, json.dumps({"user": {"name": "raw"}}))])
        await self.client.ws.send(frames.awareness(seal_awareness(self.keys, self.session, counter, update)))

    def seal(self, counter: int, plaintext: bytes) -> bytes:
        return seal_awareness(self.keys, self.session, counter, plaintext)

    async def direct(self, to: int, envelope: bytes) -> None:
        await self.client.ws.send(frames.direct(to, envelope))


@contextlib.asynccontextmanager
async def member(hub: HubProcess, keys: RoomKeys) -> AsyncIterator[Member]:
    async with raw_client(room_url(hub, keys)) as client:
        got = await client.hello(keys)
        ready = next(f for f in got if isinstance(f, frames.Ready))
        yield Member(client, keys, ready.conn_id)


async def test_an_encrypted_rooms_direct_messages_are_checked_before_anyone_sees_them(hub: HubProcess) -> None:
    keys = new_room(hub)
    provider = EncryptedProvider(keys, room_url(hub, keys))
    await provider.start(timeout=20)
    try:
        heard = listen(provider)
        assert provider.conn_id is not None
        async with member(hub, keys) as raw, member(hub, keys) as stranger:
            # A message from a connection whose presence has not reached us: from nobody, dropped.
            await stranger.direct(provider.conn_id, stranger.seal(1, b'{"from":"nobody"}'))
            await raw.presence(777, counter=5)
            await eventually(lambda: 777 in provider.awareness.states, 10, what="the raw member's presence")
            # Its own counter sequence: 1, though its presence (same session) is at 5.
            first = raw.seal(1, b'{"n":1}')
            await raw.direct(provider.conn_id, first)
            await eventually(lambda: heard, 10, what="the first message")
            assert heard == [(777, {"n": 1})]  # from the client id its connection's presence speaks for
            await raw.direct(provider.conn_id, first)  # the hub plays it again: a replay
            await raw.direct(provider.conn_id, raw.seal(2, b"[1, 2]"))  # not an object
            await raw.direct(provider.conn_id, raw.seal(3, b'{"deep":' * 40 + b"1" + b"}" * 40))  # too deep
            await raw.direct(provider.conn_id, raw.seal(4, b'{"n":4}'))
            await eventually(lambda: len(heard) == 2, 10, what="the last message")
            await asyncio.sleep(0.3)
            assert heard == [(777, {"n": 1}), (777, {"n": 4})]
            dropped = [(r.kind, r.error) for r in provider.rejected if r.kind == "direct"]
            assert dropped == [("direct", "ReplayedEnvelope"), ("direct", "DirectError"), ("direct", "DirectError")]
            assert "not an object" in next(r.message for r in provider.rejected if r.error == "DirectError")
            assert provider.status.value == "connected"  # the connection carried on
    finally:
        await provider.stop()
