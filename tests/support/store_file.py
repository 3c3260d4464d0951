"""Read a hub's SQLite file from the outside, as an operator (or an attacker with the disk) would."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def log_rows(path: Path, room: str | None = None) -> list[tuple[str, int, bytes]]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        if room is None:
            return list(db.execute("SELECT room, seq, data FROM log ORDER BY room, seq"))
        return list(db.execute("SELECT room, seq, data FROM log WHERE room = ? ORDER BY seq", (room,)))


def snapshot(path: Path, room: str) -> tuple[int, bytes] | None:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        row = db.execute("SELECT seq, data FROM snapshots WHERE room = ?", (room,)).fetchone()
    return (row[0], row[1]) if row else None
