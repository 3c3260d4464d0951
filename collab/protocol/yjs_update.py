"""What the hub reads in a Yjs update (the v1 encoding) through pycrdt. Pure: bytes in, bytes out.

Every function here is a pure function of its arguments, so it can run in a worker process
(collab.hub.decoder) as well as on the event loop; this module imports nothing of the hub.
"""

from __future__ import annotations

import pycrdt

from collab.protocol.yjs import read_var_uint, write_var_uint

EMPTY_UPDATE = b"\x00\x00"


def diff_update(update: bytes, state_vector: bytes) -> bytes:
    """Validate ``update`` and return the part of it a document at ``state_vector`` lacks.

    Raises ValueError for anything that is not a Yjs update.
    """
    pycrdt.get_state(update)  # a full decode: refuses garbage before it is stored
    return pycrdt.get_update(update, state_vector)


def unintegrated(update: bytes, state_vector: bytes) -> bytes | None:
    """The part of ``update`` that a document at ``state_vector`` has not integrated, or None.

    A Yjs document keeps an update whose dependencies it lacks pending: its structs stay out of the
    state vector and its deletions wait for their targets. ``Doc.get_update()`` leaves pending
    updates out (pycrdt, unlike Yjs), so a snapshot made from the document alone loses them.
    """
    rest = pycrdt.get_update(update, state_vector)
    if rest[0] != 0:  # it names clients with structs past the state vector
        return rest
    ends = _deletion_ends(rest, 1)
    if not ends or _covers(state_vector, ends):
        return None
    return rest


def _deletion_ends(update: bytes, pos: int) -> dict[int, int]:
    """client id -> the end of its last deleted range, from a delete set starting at ``pos``."""
    ends: dict[int, int] = {}
    clients, pos = read_var_uint(update, pos)
    for _ in range(clients):
        client, pos = read_var_uint(update, pos)
        ranges, pos = read_var_uint(update, pos)
        for _ in range(ranges):
            clock, pos = read_var_uint(update, pos)
            length, pos = read_var_uint(update, pos)
            ends[client] = max(ends.get(client, 0), clock + length)
    return ends


def _covers(state_vector: bytes, ends: dict[int, int]) -> bool:
    """Whether the document has every struct up to ``ends`` (then deletions of them are applied).

    Asked of pycrdt with an update of one GC struct ending at each clock: whatever the state
    vector lacks of it comes back.
    """
    probe = [write_var_uint(len(ends))]
    for client, end in ends.items():
        probe += [write_var_uint(1), write_var_uint(client), write_var_uint(end - 1), b"\x00", write_var_uint(1)]
    probe.append(b"\x00")
    return pycrdt.get_update(b"".join(probe), state_vector)[0] == 0
