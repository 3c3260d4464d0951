"""What an encrypted client counts as received: only what its document holds (issue 21).

RoomLog gets ENTRY frames as the hub sends them (real sealed envelopes, a real pycrdt document);
``since`` is what the next HELLO asks from and what a snapshot would cover.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pycrdt

from collab.client.room_log import RoomLog
from collab.crypto import RoomKeys
from collab.protocol.envelope import new_author_id, open_envelope, seal_snapshot, seal_update
from collab.protocol.replay_guard import ReplayGuard
from collab.protocol.snapshot import encode_snapshot

KEYS = RoomKeys.from_write_secret(bytes(range(32)))


@dataclass
class _Counter:
    since: int = 0


class _Room:
    """One author's edits, sealed as the hub would store them, and a client's RoomLog."""

    def __init__(self, edits: int) -> None:
        source: pycrdt.Doc[Any] = pycrdt.Doc()
        updates: list[bytes] = []
        source.observe(lambda e: updates.append(e.update))
        self.author = new_author_id()
        kv = source.get("kv", type=pycrdt.Map)
        for i in range(1, edits + 1):
            kv[f"e{i}"] = i
        self.envelopes = [seal_update(KEYS, self.author, i, u) for i, u in enumerate(updates, 1)]
        self.source = source
        self.doc: pycrdt.Doc[Any] = pycrdt.Doc()
        self.rejected: list[tuple[int, str]] = []
        self.applied = 0
        self.counter = _Counter()
        self.guard = ReplayGuard()
        self.log = RoomLog(
            KEYS, self.guard, lambda u: self.doc.apply_update(u), lambda s, k, e: self.rejected.append((s, type(e).__name__)),
            on_update=self._counted, counter=self.counter, ask_wait=0.01,
        )

    def _counted(self) -> None:
        self.applied += 1

    def send(self, *seqs: int, envelope_of: dict[int, int] | None = None) -> None:
        """ENTRY seq for each of ``seqs``, carrying the author's update of that number (or as mapped)."""
        for seq in seqs:
            self.log.entry(seq, self.envelopes[(envelope_of or {}).get(seq, seq) - 1])

    def keys(self) -> set[str]:
        return set(self.doc.get("kv", type=pycrdt.Map).keys())


def test_updates_ahead_of_a_gap_are_held_not_counted_then_applied_in_order() -> None:
    room = _Room(6)
    room.send(1, 2, 4, 5, 6)
    assert room.keys() == {"e1", "e2"}
    assert room.log.since == 2  # a resume asks from 2, so 3..6 come again
    assert room.log.missing() == f"entries after 2 are missing (update 3 of author {room.author.hex()[:8]}… (3 held behind it))"
    assert room.log.blocked() == room.log.missing()
    room.send(3)
    assert room.keys() == {f"e{i}" for i in range(1, 7)}
    assert room.log.since == 6 and room.log.missing() is None and room.log.blocked() is None
    assert room.applied == 6 and room.rejected == []


def test_the_hub_labels_reordered_updates_with_contiguous_seqs() -> None:
    # The hub numbers entries itself: author seq 3 stored as entry 6, 4..6 as entries 3..5.
    room = _Room(6)
    room.send(1, 2, 3, 4, 5, 6, envelope_of={3: 4, 4: 5, 5: 6, 6: 3})
    assert room.keys() == {f"e{i}" for i in range(1, 7)} and room.log.since == 6


def test_a_rejected_entry_keeps_since_below_it_and_blocks_snapshots_but_is_not_missing() -> None:
    room = _Room(3)
    room.send(1)
    room.log.entry(2, room.envelopes[1][:-1])  # truncated
    room.log.entry(3, room.envelopes[1])  # author seq 2, now entry 3
    assert room.rejected == [(2, "MalformedEnvelope")]
    assert room.keys() == {"e1", "e2"}
    assert room.log.since == 1 and room.log.missing() is None
    assert room.log.blocked() == "entries 2 were rejected, so this copy lacks them"


def test_a_replay_counts_as_received_and_blocks_nothing() -> None:
    room = _Room(2)
    room.send(1, 2)
    room.log.entry(3, room.envelopes[0])
    assert room.rejected == [(3, "ReplayedEnvelope")]
    assert room.log.since == 3 and room.log.blocked() is None


def test_a_snapshot_covers_rejected_entries_and_releases_what_its_heads_allow() -> None:
    room = _Room(5)
    room.log.entry(1, b"junk")
    room.send(4, 5)
    room.counter.since = 7
    assert room.log.since == 0
    state: pycrdt.Doc[Any] = pycrdt.Doc()
    for env in room.envelopes[:3]:
        state.apply_update(open_envelope(KEYS, env).plaintext)
    snapshot = seal_snapshot(KEYS, new_author_id(), 1, 3, encode_snapshot(state.get_update(), {room.author.hex(): 3}))
    room.log.entry(3, snapshot)
    assert room.keys() == {f"e{i}" for i in range(1, 6)}
    assert room.log.since == 5 and room.log.blocked() is None and room.applied == 2
    assert room.counter.since == 0  # the compactor counts from the snapshot again


def test_stuck_waits_for_a_sync_and_for_the_same_thing_missing_twice() -> None:
    room = _Room(3)
    room.send(1, 3)

    async def run() -> tuple[str, float]:
        task = asyncio.create_task(room.log.stuck())
        await asyncio.sleep(0.1)
        assert not task.done()  # not synced on this connection: history may still be coming
        room.log.synced(3)
        return await asyncio.wait_for(task, 5)

    missing, waited = asyncio.run(run())
    assert missing.startswith("entries after 1 are missing (update 2 of author") and waited == 0.01
