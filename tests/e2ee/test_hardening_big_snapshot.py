"""A snapshot of any size gets through (issue 13, finding 5, the hub's side).

Over ~8 MiB of document an encrypted room's snapshot is larger than the hub's frame limit, and the
hub closed the writer with 1009. A writer now sends it as SNAPSHOT_PART frames under the limit
(docs/protocol.md); the hub puts them back together, checks the whole envelope as one SNAPSHOT
and swaps it in, and a joiner reads the room from it.

The writer here speaks raw frames, as any client of the protocol may (the Python and browser
clients are changed to send parts separately).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pycrdt

from collab.crypto.keys import RoomKeys
from collab.protocol import relay_frames as frames
from collab.protocol.envelope import new_author_id, seal_snapshot, seal_update
from collab.protocol.snapshot import encode_snapshot
from tests.e2ee.support import RawClient, joined, new_room, raw_client, room_url
from tests.support.hub_process import HubProcess

MiB = 1024 * 1024
PART = 1 * MiB


async def publish(client: RawClient, keys: RoomKeys, author: bytes, author_seq: int, update: bytes) -> int:
    await client.ws.send(frames.publish(author_seq, seal_update(keys, author, author_seq, update)))
    ack = await client.recv(60)
    assert isinstance(ack, frames.Ack), ack
    return ack.seq


async def test_a_snapshot_over_the_frame_limit_arrives_in_parts(hub: HubProcess) -> None:
    keys = new_room(hub)
    doc: pycrdt.Doc[Any] = pycrdt.Doc()
    text = doc.get("code", type=pycrdt.Text)
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    text += "a" * (6 * MiB)
    text += "b" * (6 * MiB)  # 12 MiB in two updates, each under the 8 MiB frame limit
    author = new_author_id()
    async with raw_client(room_url(hub, keys)) as writer:
        await writer.hello(keys)
        head = 0
        for n, update in enumerate(updates, 1):
            head = await publish(writer, keys, author, n, update)
        plaintext = encode_snapshot(doc.get_update(), {author.hex(): len(updates)})
        envelope = seal_snapshot(keys, author, len(updates) + 1, head, plaintext)
        assert len(envelope) > 8 * MiB
        parts = frames.snapshot_parts(99, envelope, PART)
        assert len(parts) == 13 and all(len(p) <= PART for p in parts)
        for part in parts:
            await writer.ws.send(part)
        ack = await writer.recv(60)
        assert isinstance(ack, frames.Ack) and (ack.client_ref, ack.seq) == (99, head), ack

    received: list[bytes] = []
    async with joined(hub, keys.read_only(), on_frame=lambda d, f: received.append(f) if d == "in" else None) as late:
        assert str(late.doc.get("code", type=pycrdt.Text)) == str(text)
        assert late.rejected == []
    entries = [frames.decode(f) for f in received if f[0] == frames.FrameType.ENTRY]
    assert [(e.seq, e.envelope) for e in entries] == [(head, envelope)]  # type: ignore[union-attr]


async def test_snapshot_parts_over_the_limit_or_from_a_reader_are_refused(tmp_path: Path) -> None:
    hub = HubProcess(tmp_path / "data", "--max-snapshot-bytes", str(9 * MiB)).start()
    try:
        keys = new_room(hub)
        author = new_author_id()
        async with raw_client(room_url(hub, keys)) as writer, raw_client(room_url(hub, keys)) as reader:
            await writer.hello(keys)
            await reader.hello(keys.read_only())
            head = await publish(writer, keys, author, 1, b"\x00\x00")
            envelope = seal_snapshot(keys, author, 2, head, encode_snapshot(b"\x00\x00", {}) + b"\x00" * (10 * MiB))
            for part in frames.snapshot_parts(7, envelope, PART):
                await writer.ws.send(part)
            nack = await writer.recv(60)
            assert isinstance(nack, frames.Nack) and nack.code == frames.NackCode.INVALID_ENVELOPE, nack
            assert f"over the {9 * MiB}-byte limit" in nack.reason
            # Once refused, the rest of its parts are read and dropped: the connection carries on.
            assert await publish(writer, keys, author, 3, b"\x00\x00") == head + 1

            await reader.ws.send(frames.snapshot_parts(8, envelope[:1000], PART)[0])
            refused = (await reader.recv_until(frames.Nack))[-1]
            assert isinstance(refused, frames.Nack) and refused.code == frames.NackCode.FORBIDDEN, refused
    finally:
        hub.stop()
