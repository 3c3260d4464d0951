"""collab.watermark: which seqs of a log have been seen, whatever order they arrive in."""

from __future__ import annotations

import random

from collab.watermark import Watermark


def test_entries_in_order_move_the_mark_and_leave_no_gap() -> None:
    mark = Watermark()
    for seq in (1, 2, 3):
        mark.saw(seq)
    assert (mark.upto, mark.ahead, mark.gap) == (3, set(), False)
    assert mark.has(1) and mark.has(3) and not mark.has(4)


def test_an_entry_past_a_hole_is_a_gap_until_the_hole_fills() -> None:
    mark = Watermark()
    mark.saw(1)
    mark.saw(4)
    mark.saw(3)
    assert mark.upto == 1 and mark.gap
    assert mark.has(3) and mark.has(4) and not mark.has(2)
    mark.saw(2)  # the missing one arrives: everything closes up
    assert (mark.upto, mark.ahead, mark.gap) == (4, set(), False)


def test_repeats_and_old_entries_change_nothing() -> None:
    mark = Watermark(upto=5)
    mark.saw(3)
    mark.saw(5)
    assert (mark.upto, mark.ahead) == (5, set())
    mark.saw(7)
    mark.saw(7)
    assert (mark.upto, mark.ahead) == (5, {7})


def test_advance_covers_holes_and_closes_up_to_what_was_seen_past_it() -> None:
    mark = Watermark()
    for seq in (3, 6, 7, 9):
        mark.saw(seq)
    mark.advance(5)  # a snapshot, or a log read up to 5
    assert (mark.upto, mark.ahead, mark.gap) == (7, {9}, True)
    mark.advance(2)  # behind the mark: no effect
    assert (mark.upto, mark.ahead) == (7, {9})
    mark.advance(9)
    assert (mark.upto, mark.ahead, mark.gap) == (9, set(), False)


def test_random_orders_match_a_set_of_seen_seqs() -> None:
    rng = random.Random(12)
    for _ in range(200):
        n = rng.randint(1, 40)
        mark, seen = Watermark(), set()
        for seq in rng.sample(range(1, n + 1), n):
            if rng.random() < 0.1:
                covered = rng.randint(0, n)
                mark.advance(covered)
                seen |= set(range(1, covered + 1))
            mark.saw(seq)
            seen.add(seq)
            upto = 0
            while upto + 1 in seen:
                upto += 1
            assert mark.upto == upto
            assert mark.gap == any(s > upto for s in seen)
            assert all(mark.has(s) == (s in seen) for s in range(1, n + 2))
        assert (mark.upto, mark.gap) == (n, False)
