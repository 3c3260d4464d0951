"""An encrypted room's snapshot sent in parts (SNAPSHOT_PART), put back together at the hub.

A snapshot is the whole document, and over ~8 MiB it no longer fit in one frame under the hub's
frame limit: the hub closed the writer with 1009 (issue 13, finding 5). A writer may send any
snapshot as consecutive SNAPSHOT_PART frames instead, each under the frame limit, all naming the
snapshot's client_ref and total size; the hub checks the total against ``--max-snapshot-bytes``
at the first part and handles the reassembled envelope as one SNAPSHOT. One upload at a time per
connection: a part naming another client_ref starts a new one and drops the unfinished one (its
sender gave up on it).
"""

from __future__ import annotations

from collab.protocol import relay_frames as frames


class SnapshotUpload:
    __slots__ = ("client_ref", "total", "received", "data")

    def __init__(self, client_ref: int, total: int, *, keep: bool) -> None:
        self.client_ref = client_ref
        self.total = total
        self.received = 0
        # None: refused at its first part; the rest of its parts are counted, not kept.
        self.data: bytearray | None = bytearray() if keep else None

    def add(self, part: frames.SnapshotPart) -> bool:
        """Take the next part; True once all ``total`` bytes are in."""
        if part.total != self.total:
            raise frames.ProtocolError(f"SNAPSHOT_PART total changed from {self.total} to {part.total}")
        self.received += len(part.chunk)
        if self.received > self.total:
            raise frames.ProtocolError(f"SNAPSHOT_PART runs past its total of {self.total} bytes")
        if self.data is not None:
            self.data += part.chunk
        return self.received == self.total
