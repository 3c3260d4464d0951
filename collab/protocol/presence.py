"""Presence (Yjs awareness) updates from peers, read defensively. Pure: no I/O.

A peer's presence state is JSON it wrote itself, and anyone who can join a room can send one
(a read-only member; in an encrypted room anyone who knows the room id, though only a member can
seal one that opens). ``json.loads`` recurses: one state nested 30,000 deep raised RecursionError
in a client's receive task, which then stopped syncing for good (issue 13, finding 2). So every
state is measured before it is parsed: its size, its nesting depth (by a scan that does not
recurse), and it must be an object, or null for a peer that left. A state that fails is refused
on its own; the rest of the update, and the connection, carry on.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from collab.protocol import yjs

# Our presence is a name, a colour, a file and two cursors: about 300 bytes, 4 levels deep.
MAX_STATE_BYTES = 64 * 1024
MAX_DEPTH = 32
# One update names each client once; a hub sends everyone in a room in its first update.
MAX_ENTRIES = 4096

# A JSON string, escapes included (unrolled so it never backtracks): removed before counting brackets.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


class PresenceError(ValueError):
    """A presence state this client will not hold."""


@dataclass(frozen=True, slots=True)
class Refused:
    client_id: int
    reason: str


def nesting_depth(text: str) -> int:
    """How deeply arrays and objects nest in ``text`` (JSON), without recursing."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return MAX_DEPTH  # cannot be deeper; the usual case costs two C-speed counts
    depth = deepest = 0
    for bracket in _BRACKET.finditer(_STRING.sub("", text)):
        if bracket.group() in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def check_state(raw: bytes) -> str:
    """The state as JSON text if this client may hold it, else PresenceError with the reason."""
    if len(raw) > MAX_STATE_BYTES:
        raise PresenceError(f"state of {len(raw):,} bytes is over the {MAX_STATE_BYTES:,}-byte limit")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise PresenceError("state is not UTF-8") from None
    if nesting_depth(text) > MAX_DEPTH:
        raise PresenceError(f"state nests deeper than {MAX_DEPTH} levels")
    try:
        state = json.loads(text) if text else None
    except ValueError:
        raise PresenceError("state is not JSON") from None
    if state is not None and not isinstance(state, dict):
        raise PresenceError(f"state is a JSON {type(state).__name__}, not an object")
    return text


def read_update(update: bytes) -> tuple[list[yjs.AwarenessEntry], list[Refused]]:
    """Split an awareness update into the entries a client may apply and the ones it refuses.

    Raises ``yjs.ProtocolError`` when the update's framing itself is broken (then none of it can
    be trusted to name the right clients).
    """
    count, pos = yjs.read_var_uint(update, 0)
    accepted: list[yjs.AwarenessEntry] = []
    refused: list[Refused] = []
    for index in range(count):
        client_id, pos = yjs.read_var_uint(update, pos)
        clock, pos = yjs.read_var_uint(update, pos)
        raw, pos = yjs.read_var_bytes(update, pos)
        if index >= MAX_ENTRIES:
            refused.append(Refused(client_id, f"update names more than {MAX_ENTRIES} clients"))
            continue
        try:
            accepted.append(yjs.AwarenessEntry(client_id, clock, check_state(raw)))
        except PresenceError as exc:
            refused.append(Refused(client_id, str(exc)))
    if pos != len(update):
        raise yjs.ProtocolError("trailing bytes after awareness update")
    return accepted, refused
