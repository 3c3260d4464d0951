"""Peers' presence states are measured before they are parsed (collab.protocol.presence)."""

from __future__ import annotations

import time

from collab.protocol import presence, yjs


def update(*states: str) -> bytes:
    return yjs.encode_awareness([yjs.AwarenessEntry(i + 1, 1, s) for i, s in enumerate(states)])


def test_good_states_pass_and_bad_ones_are_refused_one_by_one() -> None:
    ann = '{"user":{"name":"ann","color":"#30bced"},"cursor":{"anchor":{"a":[1,2]},"head":{"b":"[[[["}}}'
    nested = "[" * 30_000 + "]" * 30_000
    start = time.perf_counter()
    accepted, refused = presence.read_update(update(ann, nested, "42", "not json", "null", "x" * 70_000))
    took = time.perf_counter() - start
    assert [e.client_id for e in accepted] == [1, 5]  # ann, and a peer that left
    assert {r.client_id: r.reason for r in refused} == {
        2: "state nests deeper than 32 levels",
        3: "state is a JSON int, not an object",
        4: "state is not JSON",
        6: "state of 70,000 bytes is over the 65,536-byte limit",
    }
    assert took < 0.5, f"{took:.3f} s"  # a linear scan, not a recursion


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    deep_looking = '{"note": "' + "[{" * 40 + '\\"' + '"}'
    accepted, refused = presence.read_update(update(deep_looking))
    assert refused == [] and len(accepted) == 1


def test_an_update_naming_too_many_clients_is_cut_at_the_limit() -> None:
    accepted, refused = presence.read_update(update(*["{}"] * (presence.MAX_ENTRIES + 3)))
    assert len(accepted) == presence.MAX_ENTRIES and len(refused) == 3
