"""What a malicious hub (or anyone with its disk) can inject, every client detects and drops.

The store file is the hub's: these tests rewrite its rows while the hub is stopped, then let an
honest client join and check what it accepted, what it reported, and what its document holds.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from pathlib import Path

import pycrdt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from collab.crypto.keys import RoomKeys
from collab.protocol import relay_frames as frames
from collab.protocol.envelope import new_author_id, seal_awareness, seal_update
from tests.e2ee.support import joined, new_room, raw_client, room_url
from tests.support.waiting import eventually
from tests.support.hub_process import HubProcess


async def _write(hub: HubProcess, keys: RoomKeys, *pairs: tuple[str, str]) -> None:
    """One provider (one author), one update per key."""
    async with joined(hub, keys) as writer:
        kv = writer.doc.get("kv", type=pycrdt.Map)
        for key, value in pairs:
            kv[key] = value
        await writer.flush()


def _rows(db: sqlite3.Connection, room: str) -> dict[int, bytes]:
    return dict(db.execute("SELECT seq, data FROM log WHERE room = ? ORDER BY seq", (room,)))


async def test_injected_envelopes_are_rejected_reported_and_harmless(tmp_path: Path) -> None:
    data = tmp_path / "data"
    hub = HubProcess(data).start()
    try:
        keys, other = new_room(hub), new_room(hub)
        await _write(hub, keys, ("w1a", "1"), ("w1b", "2"))  # seq 1, 2: author 1
        await _write(hub, keys, ("w2a", "3"), ("w2b", "4"))  # seq 3, 4: author 2
        await _write(hub, keys, ("w3", "5"))  # seq 5: author 3
        await _write(hub, keys, ("w4", "6"))  # seq 6: author 4
        await _write(hub, other, ("elsewhere", "7"))
    finally:
        hub.stop()

    # A reader knows the doc key but not the write key: its forgery decrypts fine, its signature fails.
    forger = dataclasses.replace(keys.read_only(), signing_key=Ed25519PrivateKey.generate())
    doc = pycrdt.Doc()
    updates: list[bytes] = []
    doc.observe(lambda e: updates.append(e.update))
    doc.get("kv", type=pycrdt.Map)["forged"] = "by a reader"
    forged = seal_update(forger, new_author_id(), 1, updates[0])
    presence = seal_awareness(keys, new_author_id(), 1, b"\x00")

    with sqlite3.connect(data / "collab.sqlite3") as db:
        rows = _rows(db, keys.room_id)
        assert sorted(rows) == [1, 2, 3, 4, 5, 6]
        foreign = next(iter(_rows(db, other.room_id).values()))
        tampered = bytearray(rows[5])
        tampered[90] ^= 0x01
        injected = {
            3: rows[4],  # reordered: author 2's second update before its first (held until it comes)
            4: rows[3],
            5: bytes(tampered),  # one bit flipped in the ciphertext
            6: rows[6][:-10],  # truncated
            7: rows[1],  # replayed: author 1's first update again, under a new seq
            8: foreign,  # a genuine envelope of another room
            9: forged,  # signed with a key that is not the room's
            10: presence,  # presence has no place in the document log
        }
        db.executemany(
            "INSERT OR REPLACE INTO log (room, seq, data) VALUES (?, ?, ?)",
            [(keys.room_id, seq, blob) for seq, blob in injected.items()],
        )

    hub = HubProcess(data).start()
    try:
        reported: list[int | None] = []
        async with joined(hub, keys.read_only(), on_rejected=lambda r: reported.append(r.seq)) as victim:
            kv = victim.doc.get("kv", type=pycrdt.Map)
            assert dict(kv) == {"w1a": "1", "w1b": "2", "w2a": "3", "w2b": "4"}
            errors = {r.seq: r.error for r in victim.rejected}
            assert errors == {
                5: "TamperedEnvelope",
                6: "MalformedEnvelope",
                7: "ReplayedEnvelope",
                8: "WrongRoom",
                9: "TamperedEnvelope",
                10: "EnvelopeError",
            }
            assert reported == sorted(errors)
            assert "signature" in next(r.message for r in victim.rejected if r.seq == 9)
    finally:
        hub.stop()


async def test_live_replay_through_the_hub_is_dropped(hub: HubProcess) -> None:
    keys = new_room(hub)
    sent: list[bytes] = []
    async with joined(hub, keys, on_frame=lambda d, f: sent.append(f) if d == "out" else None) as alice, joined(
        hub, keys
    ) as bob:
        text = alice.doc.get("code", type=pycrdt.Text)
        text += "hello"
        await alice.flush()
        bob_text = bob.doc.get("code", type=pycrdt.Text)
        await eventually(lambda: str(bob_text) == "hello")
        # Someone holding the write link (or a hub that stored it) sends alice's envelope again:
        # the signature is genuine, so only the clients' replay check can catch it.
        envelope = next(frames.decode(f).envelope for f in sent if f[0] == frames.FrameType.PUBLISH)  # type: ignore[union-attr]
        async with raw_client(room_url(hub, keys)) as raw:
            await raw.hello(keys)
            await raw.ws.send(frames.publish(1, envelope))
            ack = await raw.recv()
            assert isinstance(ack, frames.Ack)
        await eventually(lambda: bool(bob.rejected) and bool(alice.rejected))
        assert [r.error for r in bob.rejected] == ["ReplayedEnvelope"]
        assert [r.error for r in alice.rejected] == ["ReplayedEnvelope"]
        assert str(bob_text) == "hello" and str(text) == "hello"
        await asyncio.sleep(0)
