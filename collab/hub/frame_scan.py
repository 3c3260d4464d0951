"""The common client frame read without websockets' parser: one complete, final, masked binary frame.

websockets parses every incoming frame in a generator (``Protocol.parse``, ``Frame.parse``,
``StreamReader.read_exact`` three or four times, the ``Opcode`` enum, ``recv_frame``, then uvicorn's
``handle_events``): about 24 Python calls per frame, for what in workload b is a small Yjs update in
a TCP segment of its own. ``binary_frame`` reads such a frame with a few byte indexings and
websockets' own C helper for the unmasking; collab.hub.read_ahead hands what it reads to the app's
receive loop and feeds everything else to websockets unchanged. Framing alone, 4.1-6.3 us per
frame became 1.1-1.9 (bench/frame_scan_cost.py); in workload b's cProfile 437,000 fewer Python
calls for 18,000 frames in, websockets' parser run for 989 reads of 18,499. That is ~1.5 % of the
hub's CPU per update there, within the spread of bench/profile_hub.py's figure.

That is only sound where websockets' parser stands at a frame boundary, waiting for the next
frame's first byte with nothing buffered: bytes skipped past a parser that has read a header and
waits for the payload would corrupt the stream. An empty reader buffer does not prove it (the
parser may have consumed a header). ``at_frame_boundary`` proves it from the parser itself: the
generator ``ServerProtocol.parse`` delegates (``yield from``) to ``Protocol.parse``, which between
frames is suspended in ``StreamReader.at_eof`` at the top of its loop, and nowhere else; inside a
frame it is suspended in ``Frame.parse``, during the handshake in ``Request.parse``, after a close or
an error in ``discard`` or at its last ``yield``. The suspended generators' ``gi_yieldfrom`` /
``gi_code`` say which, and the check runs again on every chunk, so nothing is tracked across chunks
that could drift from what websockets saw. Should a websockets release arrange its generators
differently, the check fails and every byte goes through websockets as before (a test catches the
lost speed: tests/hub/test_frame_scan.py). Chosen over a header scanner of our own that follows
every byte fed to websockets: that one would have to follow the HTTP handshake, websockets' error
states and its replacement of the parser after a close exactly, where a mistake skips bytes.

Besides the boundary, websockets' parser depends on: no fragmented message in progress
(``current_size``; a binary frame there is a protocol error), no extension (a permessage-deflate
frame must go through its decoder; ``collab serve`` turns it off) and its size limit, which
``frame_limit`` reads the way ``Protocol.parse`` computes it.
"""

from __future__ import annotations

from typing import Final

from websockets.protocol import Protocol, State
from websockets.streams import StreamReader

try:
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - websockets built without its C extension
    from websockets.utils import apply_mask

_PARSE: Final = Protocol.parse.__code__
_AT_EOF: Final = StreamReader.at_eof.__code__

# The first byte of a final, uncompressed (RSV bits 0) binary frame.
FIN_BINARY: Final = 0x82


def at_frame_boundary(conn: Protocol) -> bool:
    """Whether websockets' parser of ``conn`` waits for a new frame's first byte, with nothing
    buffered, no fragmented message in progress and no extension, in an open connection."""
    if conn.state is not State.OPEN or conn.current_size is not None or conn.extensions or conn.reader.buffer:
        return False
    frames = conn.parser.gi_yieldfrom  # type: ignore[attr-defined]  # the parser is a Generator
    if frames is None or getattr(frames, "gi_code", None) is not _PARSE:
        return False
    waiting = frames.gi_yieldfrom
    return waiting is not None and getattr(waiting, "gi_code", None) is _AT_EOF


def frame_limit(conn: Protocol) -> int | None:
    """The largest payload websockets' parser takes for a frame that starts a message."""
    limit = conn.max_message_size
    fragment = conn.max_fragment_size
    if fragment is not None and (limit is None or fragment < limit):
        return fragment
    return limit


def binary_frame(data: bytes, pos: int, limit: int | None) -> tuple[bytes, int] | None:
    """(unmasked payload, position after the frame) for a complete, final, masked binary frame
    with RSV bits 0 and a payload within ``limit`` at ``data[pos:]``; None for anything else (a
    partial frame, a control, text or continuation frame, a fragment, an unmasked, reserved-bit or
    oversized frame), which websockets must read."""
    n = len(data)
    if n - pos < 6 or data[pos] != FIN_BINARY:
        return None
    length = data[pos + 1]
    if length < 0x80:  # not masked: websockets closes with 1002
        return None
    length &= 0x7F
    start = pos + 2
    if length == 126:
        if n - pos < 8:
            return None
        length = (data[start] << 8) | data[start + 1]
        start += 2
    elif length == 127:
        if n - pos < 14:
            return None
        length = int.from_bytes(data[start:start + 8], "big")
        start += 8
    if limit is not None and length > limit:
        return None
    end = start + 4 + length
    if end > n:
        return None
    return apply_mask(data[start + 4:end], data[start:start + 4]), end
