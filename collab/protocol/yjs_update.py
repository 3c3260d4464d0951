"""What the hub reads in a Yjs update (the v1 encoding) through pycrdt. Pure: bytes in, bytes out.

Every function here is a pure function of its arguments, so it can run in a worker process
(collab.hub.decoder) as well as on the event loop; this module imports nothing of the hub.
"""

from __future__ import annotations

import pycrdt

EMPTY_UPDATE = b"\x00\x00"


def diff_update(update: bytes, state_vector: bytes) -> bytes:
    """Validate ``update`` and return the part of it a document at ``state_vector`` lacks.

    Raises ValueError for anything that is not a Yjs update.
    """
    pycrdt.get_state(update)  # a full decode: refuses garbage before it is stored
    return pycrdt.get_update(update, state_vector)
