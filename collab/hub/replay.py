"""The Yjs merge a room's log needs: its snapshot and entries as one update.

Used when a room loads, and handed to stores that compact on their own (collab.store.base.Merge).
"""

from __future__ import annotations

from typing import Any

import pycrdt

from collab.store.base import RoomLog

REPLAY_CHUNK = 64


def replay(room_log: RoomLog) -> bytes:
    """Apply a snapshot and log entries to a fresh document and encode its state (runs in a thread).

    Compaction uses apply-then-encode, not ``merge_updates``: measured on 20,000 typing updates the
    merge took 1.9 s and produced 263 kB where this produces 20 kB.
    """
    doc: pycrdt.Doc[Any] = pycrdt.Doc()
    if room_log.snapshot:
        doc.apply_update(room_log.snapshot)
    entries = room_log.entries
    # Merging small runs first lets consecutive keystrokes integrate as one item: on 100,000 typing
    # updates this takes 0.15 s where applying them one by one takes 4 s (measured here).
    for i in range(0, len(entries), REPLAY_CHUNK):
        chunk = [e.data for e in entries[i : i + REPLAY_CHUNK]]
        doc.apply_update(chunk[0] if len(chunk) == 1 else pycrdt.merge_updates(*chunk))
    return doc.get_update()
