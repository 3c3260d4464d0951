"""The running log hash (collab/protocol/log_hash.py) as a client's RoomLog keeps it: entries folded in
hub seq order whatever order they came in, a snapshot checked against it, a joiner starting from it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pycrdt

from collab.client.room_log import RoomLog
from collab.crypto import RoomKeys
from collab.protocol.envelope import new_author_id, parse_envelope, seal_snapshot, seal_update
from collab.protocol.log_hash import ZERO, LogHash, code, fold
from collab.protocol.replay_guard import ReplayGuard
from collab.protocol.snapshot import encode_snapshot

KEYS = RoomKeys.from_write_secret(bytes(range(32)))


@dataclass
class _Counter:
    since: int = 0


def _log(forks: list[str]) -> tuple[RoomLog, pycrdt.Doc[Any]]:
    doc: pycrdt.Doc[Any] = pycrdt.Doc()
    log = RoomLog(KEYS, ReplayGuard(), doc.apply_update, lambda s, k, e: None, on_update=lambda: None,
                  counter=_Counter(), ask_wait=1.0, on_fork=forks.append)
    return log, doc


def _envelopes(n: int) -> tuple[list[bytes], pycrdt.Doc[Any], bytes]:
    source: pycrdt.Doc[Any] = pycrdt.Doc()
    updates: list[bytes] = []
    source.observe(lambda e: updates.append(e.update))
    for i in range(n):
        source.get("kv", type=pycrdt.Map)[f"k{i}"] = i
    author = new_author_id()
    return [seal_update(KEYS, author, i + 1, u) for i, u in enumerate(updates)], source, author


def test_the_hash_is_the_fold_in_seq_order_whatever_the_arrival_order() -> None:
    envelopes, _, _ = _envelopes(3)
    expected = fold(fold(fold(ZERO, 1, envelopes[0]), 2, envelopes[1]), 3, envelopes[2])
    for order in ([1, 2, 3], [2, 3, 1], [3, 1, 2]):
        h = LogHash()
        for seq in order:
            h.entry(seq, envelopes[seq - 1])
        assert (h.seq, h.digest) == (3, expected)
    assert code(3, expected) == f"3:{expected[:2].hex()}-{expected[2:4].hex()}"


def test_a_snapshot_committing_to_another_log_is_a_fork_and_a_joiner_starts_from_its_hash() -> None:
    envelopes, source, author = _envelopes(2)
    forks: list[str] = []
    holder, _ = _log(forks)
    holder.entry(1, envelopes[0])
    holder.entry(2, envelopes[1])
    honest_hash = holder.hash.digest
    heads = {author.hex(): 2}
    state = source.get_update()
    honest = seal_snapshot(KEYS, new_author_id(), 1, 2, encode_snapshot(state, heads, honest_hash))
    other = seal_snapshot(KEYS, new_author_id(), 1, 2, encode_snapshot(state, heads, fold(ZERO, 2, b"x")))

    holder._snapshot(2, parse_envelope(honest))
    assert forks == []
    holder.entry(2, other)  # the hub hands this client a snapshot that commits to another history
    assert len(forks) == 1 and "a snapshot at seq 2 was shown another log" in forks[0]

    joiner_forks: list[str] = []
    joiner, doc = _log(joiner_forks)
    joiner.entry(2, honest)
    assert dict(doc.get("kv", type=pycrdt.Map)) == {"k0": 0, "k1": 1}
    assert (joiner.hash.seq, joiner.hash.digest) == (2, honest_hash) and joiner_forks == []
