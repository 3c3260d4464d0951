"""What the hub checks per PUBLISH (collab/hub/encrypted.py's docstring): the writer authenticated at
HELLO, the first update of each author id on a connection verified and that author bound to the
connection, a connection authenticated before a rotation writing nothing after it; and every member
verifying every signature whatever the hub stored."""

from __future__ import annotations

import asyncio
from typing import Any

import pycrdt
import pytest
from websockets.exceptions import ConnectionClosed

from collab.crypto.keys import RoomKeys, generate_write_secret
from collab.hub.encrypted import MAX_BOUND_AUTHORS
from collab.protocol import close_codes
from collab.protocol import relay_frames as frames
from collab.protocol.envelope import HEADER_SIZE, new_author_id, seal_update
from collab.protocol.rotation import seal_rotation
from tests.e2ee.support import RawClient, joined, new_room, raw_client, room_url
from tests.support.hub_process import HubProcess
from tests.support.waiting import eventually

EPOCH_AT = 3 + 1 + 1 + 16  # magic, version, type, room id: then the u32 epoch


def _update(chars: str, client_id: int) -> bytes:
    """A real Yjs update inserting ``chars`` into text "code"."""
    doc: pycrdt.Doc[Any] = pycrdt.Doc(client_id=client_id)
    text = doc.get("code", type=pycrdt.Text)
    with doc.transaction():
        text += chars
    return doc.get_update()


def _bad_signature(envelope: bytes) -> bytes:
    """The envelope with its signature's last byte flipped: structure, room and epoch intact."""
    return envelope[:-1] + bytes([envelope[-1] ^ 1])


async def _answer(raw: RawClient) -> frames.Frame:
    """The next ACK or NACK (entries relayed meanwhile are skipped)."""
    while True:
        frame = await raw.recv()
        if isinstance(frame, (frames.Ack, frames.Nack)):
            return frame


async def test_the_first_update_of_each_author_on_a_connection_is_verified(hub: HubProcess) -> None:
    keys = new_room(hub)
    a, b = new_author_id(), new_author_id()
    async with raw_client(room_url(hub, keys)) as raw:
        await raw.hello(keys)
        await raw.ws.send(frames.publish(1, _bad_signature(seal_update(keys, a, 1, _update("x", 11)))))
        nack = await _answer(raw)
        assert isinstance(nack, frames.Nack) and nack.code == frames.NackCode.INVALID_ENVELOPE
        assert "signature" in nack.reason
        await raw.ws.send(frames.publish(2, seal_update(keys, a, 1, _update("x", 11))))
        assert isinstance(await _answer(raw), frames.Ack)
        # Author a is bound to this connection now; b is not, so its first update is verified too.
        await raw.ws.send(frames.publish(3, _bad_signature(seal_update(keys, b, 1, _update("y", 12)))))
        nack = await _answer(raw)
        assert isinstance(nack, frames.Nack) and nack.code == frames.NackCode.INVALID_ENVELOPE
    # A binding is the connection's: the same author on a new connection is verified again.
    async with raw_client(room_url(hub, keys)) as raw:
        await raw.hello(keys)
        await raw.ws.send(frames.publish(4, _bad_signature(seal_update(keys, a, 2, _update("z", 11)))))
        nack = await _answer(raw)
        assert isinstance(nack, frames.Nack) and nack.code == frames.NackCode.INVALID_ENVELOPE


async def test_a_connection_binds_a_bounded_number_of_authors(hub: HubProcess) -> None:
    keys = new_room(hub)
    authors = [new_author_id() for _ in range(MAX_BOUND_AUTHORS + 1)]
    async with raw_client(room_url(hub, keys)) as raw:
        await raw.hello(keys)
        for i, author in enumerate(authors):
            await raw.ws.send(frames.publish(i + 1, seal_update(keys, author, 1, _update("a", 100 + i))))
            assert isinstance(await _answer(raw), frames.Ack)
        # The first MAX_BOUND_AUTHORS are bound; the one past them is verified every time.
        last = authors[-1]
        await raw.ws.send(frames.publish(50, _bad_signature(seal_update(keys, last, 2, _update("b", 200)))))
        nack = await _answer(raw)
        assert isinstance(nack, frames.Nack) and nack.code == frames.NackCode.INVALID_ENVELOPE
        await raw.ws.send(frames.publish(51, _bad_signature(seal_update(keys, authors[0], 2, _update("b", 100)))))
        assert isinstance(await _answer(raw), frames.Ack)


async def test_members_reject_a_bound_authors_unsigned_update_the_hub_stored(hub: HubProcess) -> None:
    """The hub no longer verifies a bound author's later updates: every member still does, live and
    in the history, and the document never holds the unsigned one's content."""
    keys = new_room(hub)
    author = new_author_id()
    async with joined(hub, keys.read_only()) as live:
        async with raw_client(room_url(hub, keys)) as raw:
            await raw.hello(keys)
            await raw.ws.send(frames.publish(1, seal_update(keys, author, 1, _update("signed ", 21))))
            first = await _answer(raw)
            assert isinstance(first, frames.Ack)
            unsigned = _bad_signature(seal_update(keys, author, 2, _update("UNSIGNED", 22)))
            await raw.ws.send(frames.publish(2, unsigned))
            second = await _answer(raw)
            assert isinstance(second, frames.Ack)
        await eventually(lambda: any(r.seq == second.seq for r in live.rejected))
        assert "signature" in next(r.message for r in live.rejected if r.seq == second.seq)
        assert str(live.doc.get("code", type=pycrdt.Text)) == "signed "
    async with joined(hub, keys.read_only()) as later:
        await eventually(lambda: any(r.seq == second.seq for r in later.rejected))
        assert str(later.doc.get("code", type=pycrdt.Text)) == "signed "


async def test_a_connection_authenticated_before_a_rotation_writes_nothing_after_it(hub: HubProcess) -> None:
    """A removed writer holds the old write key only: its envelopes may claim the new epoch in their
    header (unsigned), and its author is bound, but its connection authenticated under the old key.
    The frame after the ROTATE is handled before the hub's 4410 close goes out, so it is refused by
    the connection's epoch: without that check it would be stored (the author is bound)."""
    keys = new_room(hub)
    author = new_author_id()
    async with raw_client(room_url(hub, keys)) as raw:
        await raw.hello(keys)
        await raw.ws.send(frames.publish(1, seal_update(keys, author, 1, _update("old", 31))))
        ack = await _answer(raw)
        assert isinstance(ack, frames.Ack)
        new = RoomKeys.for_epoch(keys.room_id_bytes, 1, write_secret=generate_write_secret())
        rotation = seal_rotation(keys, new, ref=ack.seq, chain={}, starts={}, boxes=[], author_id=new_author_id())
        stale = seal_update(keys, author, 2, _update("after", 31))
        claims_new = stale[:EPOCH_AT] + (1).to_bytes(4, "big") + stale[EPOCH_AT + 4 :]
        assert len(claims_new) == len(stale) and claims_new[HEADER_SIZE:] == stale[HEADER_SIZE:]
        await raw.ws.send(frames.rotate(2, rotation))
        await raw.ws.send(frames.publish(3, claims_new))
        answers: list[frames.Frame] = []
        with pytest.raises(ConnectionClosed):  # then 4410, as for every member of the old epoch
            while True:
                answers.append(await raw.recv())
        assert raw.ws.close_code == close_codes.KEYS_ROTATED
    assert frames.Ack(2, ack.seq) in answers
    assert [f for f in answers if isinstance(f, (frames.Ack, frames.Nack)) and f.client_ref == 3] == [
        frames.Nack(3, frames.NackCode.STORE_UNAVAILABLE, "the room's keys were rotated: send it again under the new ones")
    ]
    # Nothing was stored after the rotation: a member of the new epoch sees the head where it was.
    await asyncio.sleep(0.3)
    async with raw_client(room_url(hub, new)) as member:
        history = await member.hello(new)
    assert [f.seq for f in history if isinstance(f, frames.Entry)] == [ack.seq]
    synced = history[-1]
    assert isinstance(synced, frames.Synced) and synced.head == ack.seq
