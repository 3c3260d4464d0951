"""The replay guard holds updates that come ahead of a gap and releases them when it closes (issue 21).

Vectors (the browser's web/test/replay.test.ts runs the same ones against web/src/crypto/replay.ts):
author seqs 1, 2, 4, 5, 6, 3 as hub entries 1, 2, 4, 5, 6, 3 give nothing for 4..6 and then
3, 4, 5, 6 in order when 3 comes; the same author seq twice is a replay.
"""

from __future__ import annotations

import pytest

from collab.crypto import RoomKeys
from collab.protocol.envelope import EnvelopeType, Opened, ReplayedEnvelope, open_envelope, seal_update
from collab.protocol.replay_guard import Gap, ReplayGuard

AUTHOR = bytes(range(16))
OTHER = bytes(16)
U = EnvelopeType.UPDATE


def up(seq: int, author: bytes = AUTHOR, plaintext: bytes = b"") -> Opened:
    return Opened(U, author, seq, 0, plaintext or f"u{seq}".encode())


def admitted(guard: ReplayGuard, seq: int, opened: Opened) -> list[tuple[int, int]]:
    """(hub seq, author seq) of what ``admit`` says to apply now."""
    return [(h.seq, h.opened.author_seq) for h in guard.admit(seq, opened)]


def test_the_issue_vector_holds_four_to_six_and_releases_them_after_three() -> None:
    guard = ReplayGuard()
    assert admitted(guard, 1, up(1)) == [(1, 1)]
    assert admitted(guard, 2, up(2)) == [(2, 2)]
    for seq in (4, 5, 6):
        assert admitted(guard, seq, up(seq)) == []
    assert guard.held == 3
    assert guard.gaps() == [Gap(AUTHOR, expected=3, first_held=4, held=3)]
    assert str(guard.gaps()[0]) == f"update 3 of author {AUTHOR.hex()[:8]}… (3 held behind it)"
    assert guard.lowest_held_seq() == 4
    assert guard.export() == {AUTHOR.hex(): 2}  # a snapshot now would not claim 4..6
    assert admitted(guard, 3, up(3)) == [(3, 3), (4, 4), (5, 5), (6, 6)]
    assert guard.held == 0 and guard.gaps() == [] and guard.lowest_held_seq() is None
    assert guard.export() == {AUTHOR.hex(): 6}
    assert admitted(guard, 7, up(7)) == [(7, 7)]


def test_the_same_author_seq_twice_is_a_replay_whether_applied_or_held() -> None:
    guard = ReplayGuard()
    guard.admit(1, up(1))
    with pytest.raises(ReplayedEnvelope, match="update 1 from author .* is a replay: 1 was already accepted"):
        guard.admit(9, up(1))  # an old envelope under a new hub seq
    assert guard.admit(3, up(3)) == []
    assert guard.admit(3, up(3)) == []  # the same entry again, asked for again: still held, once
    with pytest.raises(ReplayedEnvelope, match="already held as entry 3"):
        guard.admit(8, up(3))
    assert admitted(guard, 2, up(2)) == [(2, 2), (3, 3)]
    with pytest.raises(ReplayedEnvelope):
        guard.admit(3, up(3))


def test_a_failed_admission_records_nothing() -> None:
    guard = ReplayGuard()
    guard.admit(1, up(1))
    with pytest.raises(ReplayedEnvelope):
        guard.admit(5, up(1))
    assert guard.export() == {AUTHOR.hex(): 1} and guard.held == 0


def test_authors_are_held_independently() -> None:
    guard = ReplayGuard()
    assert guard.admit(1, up(2)) == []  # an author never seen starts at 1
    assert admitted(guard, 2, up(1, OTHER)) == [(2, 1)]
    assert admitted(guard, 3, up(2, OTHER)) == [(3, 2)]
    assert [g.author for g in guard.gaps()] == [AUTHOR]
    assert admitted(guard, 4, up(1)) == [(4, 1), (1, 2)]


def test_what_is_held_is_bounded_and_what_did_not_fit_comes_again() -> None:
    guard = ReplayGuard(max_held_per_author=2)
    guard.admit(1, up(1))
    for seq in (3, 4, 5):
        assert guard.admit(seq, up(seq)) == []
    assert guard.held == 2 and guard.not_kept == 1
    assert admitted(guard, 2, up(2)) == [(2, 2), (3, 3), (4, 4)]
    assert admitted(guard, 5, up(5)) == [(5, 5)]  # the hub, asked again, sends it again

    small = ReplayGuard(max_held_bytes=10)
    small.admit(1, up(1))
    assert small.admit(3, up(3, plaintext=b"x" * 8)) == []
    assert small.admit(4, up(4, plaintext=b"x" * 8)) == []
    assert small.held == 1 and small.not_kept == 1


def test_heads_from_a_snapshot_release_and_cover_what_is_held() -> None:
    guard = ReplayGuard()
    for seq in (3, 4, 6):
        guard.admit(seq + 10, up(seq))
    guard.admit(20, up(2, OTHER))
    guard.load({AUTHOR.hex(): 3})
    ready, covered = guard.release()
    assert [(h.seq, h.opened.author_seq) for h in covered] == [(13, 3)]
    assert [(h.seq, h.opened.author_seq) for h in ready] == [(14, 4)]
    assert [(g.author, g.expected) for g in guard.gaps()] == [(AUTHOR, 5), (OTHER, 1)]


def test_only_updates_are_admitted_and_checks_keep_their_rules() -> None:
    guard = ReplayGuard()
    with pytest.raises(ValueError, match="only updates"):
        guard.admit(1, Opened(EnvelopeType.SNAPSHOT, AUTHOR, 1, 1, b""))
    guard.check(Opened(EnvelopeType.AWARENESS, AUTHOR, 5, 0, b""))
    with pytest.raises(ReplayedEnvelope):
        guard.check(Opened(EnvelopeType.AWARENESS, AUTHOR, 5, 0, b""))


def test_real_envelopes_withheld_then_delivered() -> None:
    keys = RoomKeys.from_write_secret(bytes(range(32)))
    stream = [open_envelope(keys, seal_update(keys, AUTHOR, seq, f"edit {seq}".encode())) for seq in (1, 2, 3)]
    guard = ReplayGuard()
    assert [h.opened.plaintext for h in guard.admit(1, stream[0])] == [b"edit 1"]
    assert guard.admit(3, stream[2]) == []  # the hub held back #2
    assert [h.opened.plaintext for h in guard.admit(2, stream[1])] == [b"edit 2", b"edit 3"]
    with pytest.raises(ReplayedEnvelope):  # the hub replays #2
        guard.admit(4, stream[1])
