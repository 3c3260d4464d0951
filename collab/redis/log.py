"""Reading a room's log from Redis: its snapshot and the stream entries after it.

The store loads rooms with it and the broker reads back what pub/sub missed, so both read the same
keys the same way (collab.redis.keys).
"""

from __future__ import annotations

from typing import Any, Final

from collab.redis.connection import Client
from collab.redis.keys import room_key
from collab.store.base import LogEntry, RoomLog, StoreUnavailable

PAGE: Final = 5000  # stream entries per XRANGE

# KEYS: snap, log. ARGV: since, count. The snapshot (when it covers more than since) and the first
# page of entries after it, read atomically so a concurrent compaction cannot open a hole between them.
READ_FIRST_PAGE: Final = """
local snap = redis.call('HMGET', KEYS[1], 'seq', 'data')
local sseq = tonumber(snap[1]) or 0
local since = tonumber(ARGV[1])
local data = false
if sseq > since then since = sseq; data = snap[2] end
local entries = redis.call('XRANGE', KEYS[2], string.format('%d-1', since), '+', 'COUNT', ARGV[2])
return {sseq, data, entries}
"""


def _seq(entry_id: bytes) -> int:
    return int(entry_id.split(b"-", 1)[0])


def _entries(raw: Any) -> list[LogEntry]:
    """Stream entries as XRANGE returns them: fields as a dict, or (from Lua) a flat list."""
    out = []
    for entry_id, fields in raw or ():
        if not isinstance(fields, dict):
            fields = dict(zip(fields[::2], fields[1::2]))
        out.append(LogEntry(_seq(entry_id), fields[b"d"]))
    return out


async def read_log(redis: Client, room: str, since: int = 0, upto: int | None = None) -> RoomLog:
    """Snapshot (if it covers more than ``since``) and the entries after it, up to ``upto``.

    Pages are read one after another; a compaction between two pages shows as a hole in the seqs,
    and then the read starts over (the new snapshot covers the hole).
    """
    snap_key, log_key = room_key(room, "snap"), room_key(room, "log")
    for _ in range(10):
        snap_seq, snap_data, first = await redis.eval(READ_FIRST_PAGE, 2, snap_key, log_key, since, PAGE)
        result = RoomLog()
        if snap_data is not None:
            result.snapshot, result.snapshot_seq = snap_data, int(snap_seq)
        page = _entries(first)
        expected = max(since, result.snapshot_seq) + 1
        hole = False
        while page:
            if page[0].seq != expected or page[-1].seq != expected + len(page) - 1:
                hole = True
                break
            result.entries.extend(e for e in page if upto is None or e.seq <= upto)
            expected = page[-1].seq + 1
            if len(page) < PAGE or (upto is not None and expected > upto):
                break
            page = _entries(await redis.xrange(log_key, f"{expected}-0", "+", count=PAGE))
        if not hole:
            return result
    raise StoreUnavailable(f"room {room}: log kept changing while it was read")
