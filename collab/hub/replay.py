"""The Yjs merge a room's log needs: its snapshot and entries as one update.

Used when a room loads, and handed to stores that compact on their own (collab.store.base.Merge).
Nothing stored is lost by it: an update whose dependencies are missing stays in the result (merged
in: a document keeps it pending and ``get_update`` would leave it out), and an entry that is not a
Yjs update at all (a corrupted row) is skipped alone, logged, instead of failing the whole load.
"""

from __future__ import annotations

import logging
from typing import Any

import pycrdt

from collab.protocol.yjs_update import unintegrated
from collab.store.base import LogEntry, RoomLog

log = logging.getLogger(__name__)

REPLAY_CHUNK = 64


def replay(room_log: RoomLog) -> bytes:
    """Apply a snapshot and log entries to a fresh document and encode its state (runs in a thread).

    Compaction uses apply-then-encode, not ``merge_updates``: measured on 20,000 typing updates the
    merge took 1.9 s and produced 263 kB where this produces 20 kB.
    """
    doc: pycrdt.Doc[Any] = pycrdt.Doc()
    applied: list[bytes] = []
    if room_log.snapshot:
        _apply(doc, room_log.snapshot, applied, f"the snapshot (through seq {room_log.snapshot_seq})")
    entries = room_log.entries
    # Merging small runs first lets consecutive keystrokes integrate as one item: on 100,000 typing
    # updates this takes 0.15 s where applying them one by one takes 4 s (measured here).
    for i in range(0, len(entries), REPLAY_CHUNK):
        chunk = entries[i : i + REPLAY_CHUNK]
        if not _apply_chunk(doc, chunk, applied):
            for entry in chunk:  # one of them is not an update: the others still count
                _apply(doc, entry.data, applied, f"entry {entry.seq}")
    return with_pending(doc, applied)


def with_pending(doc: pycrdt.Doc[Any], updates: list[bytes]) -> bytes:
    """The document's state, plus whatever of ``updates`` it holds pending."""
    state = doc.get_update()
    vector = doc.get_state()
    pending = [rest for update in updates if (rest := unintegrated(update, vector)) is not None]
    return pycrdt.merge_updates(state, *pending) if pending else state


def _apply_chunk(doc: pycrdt.Doc[Any], chunk: list[LogEntry], applied: list[bytes]) -> bool:
    try:
        update = chunk[0].data if len(chunk) == 1 else pycrdt.merge_updates(*(e.data for e in chunk))
        doc.apply_update(update)
    except ValueError:
        return False
    applied.append(update)
    return True


def _apply(doc: pycrdt.Doc[Any], update: bytes, applied: list[bytes], what: str) -> None:
    try:
        pycrdt.get_state(update)  # refuses what is not an update before the document sees it
        doc.apply_update(update)
    except ValueError as exc:
        log.error("skipping %s of a room's stored log: it is not a Yjs update (%s)", what, exc)
        return
    applied.append(update)
