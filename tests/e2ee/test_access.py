"""Who may do what in an encrypted room: writers prove the write key, readers only read, strangers learn nothing."""

from __future__ import annotations

import asyncio
import dataclasses

from typing import Callable

import httpx
import pycrdt
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from collab.client.encrypted import EncryptedProvider
from collab.client.provider import ProviderError
from collab.crypto.auth import sign_reader_challenge
from collab.crypto.keys import RoomKeys, b64url_encode, generate_write_secret
from collab.protocol import relay_frames as frames
from collab.protocol.envelope import TamperedEnvelope, open_envelope
from tests.e2ee.support import joined, new_room, raw_client, room_url
from tests.support.waiting import eventually
from tests.support.hub_process import HubProcess

SECRET = "the merger closes on friday"


async def _room_with_text(hub: HubProcess) -> RoomKeys:
    keys = new_room(hub)
    async with joined(hub, keys) as writer:
        writer.doc.get("code", type=pycrdt.Text).insert(0, SECRET)
        await writer.flush()
    return keys


async def test_a_stranger_cannot_join_as_writer(hub: HubProcess) -> None:
    keys = new_room(hub)
    stranger = RoomKeys.from_write_secret(generate_write_secret())
    # Right room, wrong secret: the hub checks the challenge signature against the room's write key.
    provider = EncryptedProvider(stranger, room_url(hub, keys))
    with pytest.raises(ProviderError, match="not the room's"):
        await asyncio.wait_for(provider.start(), 20)
    async with raw_client(room_url(hub, keys)) as raw:
        with pytest.raises(ConnectionClosed) as closed:
            await raw.hello(stranger)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
        assert closed.value.rcvd.reason == "not a writer of this room"


async def _refused_reader(
    hub: HubProcess, keys: RoomKeys, sign: Callable[[bytes], bytes | None]
) -> list[frames.Frame]:
    """Connect as a reader answering the challenge with ``sign``; every frame received before the 4401 close."""
    got: list[frames.Frame] = []
    async with raw_client(room_url(hub, keys)) as raw:
        assert raw.challenge is not None
        await raw.ws.send(frames.hello(frames.ROLE_READER, 0, sign(raw.challenge.challenge)))
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                got.append(await raw.recv())
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    assert closed.value.rcvd.reason == "not a member of this room"
    return got


async def test_a_stranger_who_knows_only_the_room_id_cannot_read(hub: HubProcess) -> None:
    keys = await _room_with_text(hub)
    stranger = RoomKeys.from_write_secret(generate_write_secret())
    forced = dataclasses.replace(stranger, room_id_bytes=keys.room_id_bytes)  # right room id, wrong read secret
    # No signature, a wrong key's signature, junk, a member's signature replayed from another
    # connection: refused before any entry or presence is sent.
    async with raw_client(room_url(hub, keys)) as raw:
        assert raw.challenge is not None
        replayed = sign_reader_challenge(keys, raw.challenge.challenge)
    signers: list[Callable[[bytes], bytes | None]] = [
        lambda c: None, lambda c: sign_reader_challenge(forced, c), lambda c: bytes(64), lambda c: replayed,
    ]
    for sign in signers:
        assert await _refused_reader(hub, keys, sign) == []
    # Through a provider: a link whose read secret is not the room's is refused, and says so.
    provider = EncryptedProvider(forced.read_only(), room_url(hub, keys))
    with pytest.raises(ProviderError, match="not the room's"):
        await asyncio.wait_for(provider.start(), 20)
    # The holder of the read-only link is admitted and reads ciphertext only its keys open.
    async with raw_client(room_url(hub, keys)) as raw:
        history = await raw.hello(keys.read_only())
    envelopes = [f.envelope for f in history if isinstance(f, frames.Entry)]
    assert envelopes and all(SECRET.encode() not in e for e in envelopes)
    open_envelope(keys.read_only(), envelopes[0])  # raises unless the link's keys open it
    for envelope in envelopes:
        with pytest.raises(TamperedEnvelope, match="decryption failed"):
            open_envelope(dataclasses.replace(forced, write_public_key=keys.write_public_key), envelope)


async def test_rooms_created_before_reader_keys_stay_open_to_readers(hub: HubProcess) -> None:
    keys = RoomKeys.from_write_secret(generate_write_secret())
    # What a client from before reader keys posts: no read_key.
    created = httpx.post(hub.url + "/api/rooms", json={
        "kind": "encrypted", "room": keys.room_id, "write_key": b64url_encode(keys.write_public_key)})
    assert created.status_code == 201
    async with joined(hub, keys) as writer:
        writer.doc.get("code", type=pycrdt.Text).insert(0, SECRET)
        await writer.flush()
    async with raw_client(room_url(hub, keys)) as raw:
        history = await raw.hello(None)  # unsigned, as an old client (or anyone with the room id)
    assert any(isinstance(f, frames.Entry) for f in history)
    async with joined(hub, keys.read_only()) as reader:  # a new client signs; the hub ignores it here
        assert str(reader.doc.get("code", type=pycrdt.Text)) == SECRET


async def test_unknown_rooms_and_wrong_room_kinds_are_refused(hub: HubProcess) -> None:
    keys = RoomKeys.from_write_secret(generate_write_secret())  # never registered
    provider = EncryptedProvider(keys, room_url(hub, keys))
    with pytest.raises(ProviderError, match="no such room"):
        await asyncio.wait_for(provider.start(), 20)
    registered = new_room(hub)
    # A plaintext (y-websocket) client cannot open an encrypted room.
    async with connect(room_url(hub, registered)) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


async def test_read_only_link_reads_cannot_write_and_shows_presence(hub: HubProcess) -> None:
    keys = await _room_with_text(hub)
    async with joined(hub, keys) as writer, joined(hub, keys.read_only()) as reader:
        text = reader.doc.get("code", type=pycrdt.Text)
        assert str(text) == SECRET
        writer_text = writer.doc.get("code", type=pycrdt.Text)
        writer_text += "!"
        await eventually(lambda: str(text) == SECRET + "!")
        # Local edits on a read-only link stay local: nothing is sent, the writer never sees them.
        text += " (reader scribbles)"
        await asyncio.sleep(0.3)
        assert str(writer_text) == SECRET + "!" and reader.pending == 0
        # Presence works both ways for a reader.
        reader.awareness.set_local_state({"user": {"name": "reader"}})
        writer.awareness.set_local_state({"user": {"name": "writer"}})
        await eventually(lambda: any(s.get("user", {}).get("name") == "reader" for s in writer.awareness.states.values()))
        await eventually(lambda: any(s.get("user", {}).get("name") == "writer" for s in reader.awareness.states.values()))
    assert writer.rejected == [] and reader.rejected == []

    # A reader's connection is refused even a perfectly signed envelope: role is checked first.
    captured: list[bytes] = []
    async with joined(hub, keys, on_frame=lambda d, f: captured.append(f) if d == "out" else None) as w:
        w.doc.get("code", type=pycrdt.Text).insert(0, "#")
        await w.flush()
    genuine = next(frames.decode(f).envelope for f in captured if f[0] == frames.FrameType.PUBLISH)  # type: ignore[union-attr]
    async with raw_client(room_url(hub, keys)) as raw:
        await raw.hello(keys.read_only())
        await raw.ws.send(frames.publish(7, genuine))
        answer = await raw.recv()
        assert answer == frames.Nack(7, frames.NackCode.FORBIDDEN, "read-only connections cannot write")


async def test_leaving_removes_presence(hub: HubProcess) -> None:
    keys = new_room(hub)
    async with joined(hub, keys) as stays:
        async with joined(hub, keys.read_only()) as leaves:
            leaves.awareness.set_local_state({"user": {"name": "leaves"}})
            await eventually(lambda: any(s.get("user", {}).get("name") == "leaves" for s in stays.awareness.states.values()))
        await eventually(lambda: not any(s.get("user", {}).get("name") == "leaves" for s in stays.awareness.states.values()))


async def test_hub_refuses_tampered_and_foreign_envelopes_from_writers(hub: HubProcess) -> None:
    keys = new_room(hub)
    other = new_room(hub)
    captured: list[bytes] = []
    async with joined(hub, other, on_frame=lambda d, f: captured.append(f) if d == "out" else None) as w:
        w.doc.get("code", type=pycrdt.Text).insert(0, "elsewhere")
        await w.flush()
    foreign = next(frames.decode(f).envelope for f in captured if f[0] == frames.FrameType.PUBLISH)  # type: ignore[union-attr]
    flipped = bytearray(foreign)
    flipped[80] ^= 1
    async with raw_client(room_url(hub, keys)) as raw:
        await raw.hello(keys)
        await raw.ws.send(frames.publish(1, foreign))
        assert await raw.recv() == frames.Nack(1, 3, "the envelope belongs to another room")
        await raw.ws.send(frames.publish(2, bytes(flipped)))
        nack = await raw.recv()
        assert isinstance(nack, frames.Nack) and nack.code == 3
        await raw.ws.send(frames.publish(3, b"CLB\x01"))
        nack = await raw.recv()
        assert isinstance(nack, frames.Nack) and nack.code == 3 and "truncated" in nack.reason
        await raw.ws.send(b"\x42junk")
        with pytest.raises(ConnectionClosed) as closed:
            await raw.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1002
