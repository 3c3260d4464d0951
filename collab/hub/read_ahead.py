"""uvicorn's websocket protocol, lighter per connection and reading a few small messages ahead.

Its message queue and writable flag are collab.hub.lean_sync's (3.8 kB less per connection than
asyncio's Queue and Event).

uvicorn's websockets-sansio protocol pauses the socket's reading each time it queues a message for
the app and resumes it when the app has read its queue empty: for a client that sends one frame at
a time that is two ``epoll_ctl`` calls per frame (about 8 % of the event loop in workload b,
bench/PROFILE.md). Here reading goes on while fewer than ``READ_AHEAD_MESSAGES`` messages wait and
the one just read is small, so what a connection can have queued beyond uvicorn's own bound stays
under ``READ_AHEAD_MESSAGES`` × ``READ_AHEAD_BYTES``; a larger message, or a fuller queue, pauses
the socket exactly as uvicorn does.

A binary message that arrives while the app's receive loop waits on an empty queue goes to the
loop's frame sink instead (collab.hub.receive), there and then. Where such messages come as
complete single-frame messages at the start of what the socket read, and websockets' parser stands
at a frame boundary, they are read without websockets' parser at all (collab.hub.frame_scan): the
rest of the read, from the first frame that is anything else (a partial frame, a ping, a close, a
text or oversized frame) or that comes after the sink was cleared, goes to websockets as before,
starting at a frame boundary, so pings, the closing handshake, 1009 and 1002 and read-ahead pausing
stay websockets' and uvicorn's. One difference: valid frames read in the same chunk before a bad
one are delivered (uvicorn handles none of a chunk's frames once websockets' parser fails on it).
"""

from __future__ import annotations

from typing import Any, Final, Protocol

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from collab.hub.frame_scan import at_frame_boundary, binary_frame, frame_limit
from collab.hub.lean_sync import LeanEvent, LeanQueue

READ_AHEAD_MESSAGES: Final = 8
READ_AHEAD_BYTES: Final = 16 * 1024


class FrameSink(Protocol):
    def frame(self, data: bytes) -> None: ...


class ReadAheadWebsocket(WebSocketsSansIOProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Set by the app's receive loop while it waits on an empty queue (collab.hub.receive): a
        # binary message then goes straight to it, without a queued ASGI message and a task wake-up.
        self.frame_sink: FrameSink | None = None
        # Only put_nowait / get / empty / qsize and set / clear / is_set / wait are used on them.
        self.queue = LeanQueue()  # type: ignore[assignment]
        self.writable = LeanEvent()  # type: ignore[assignment]
        self.writable.set()

    def data_received(self, data: bytes) -> None:
        sink = self.frame_sink
        if sink is None or self.close_sent or not self.queue.empty() or not at_frame_boundary(self.conn):
            super().data_received(data)
            return
        limit = frame_limit(self.conn)
        pos, end = 0, len(data)
        while pos < end and (frame := binary_frame(data, pos, limit)) is not None:
            payload, pos = frame
            # What uvicorn's handle_bytes leaves behind for a final binary frame; frames is [] already.
            self.curr_msg_data_type = "bytes"
            sink.frame(payload)
            # The checks send_receive_event_to_app makes: a frame that queued work clears the sink.
            sink = self.frame_sink
            if sink is None or self.close_sent or not self.queue.empty():
                break
        if pos < end:
            super().data_received(data[pos:] if pos else data)

    def send_receive_event_to_app(self) -> None:
        sink = self.frame_sink
        if sink is not None and self.curr_msg_data_type == "bytes" and not self.close_sent and self.queue.empty():
            frames, self.frames = self.frames, []
            sink.frame(frames[0] if len(frames) == 1 else b"".join(frames))
            return
        if (self.read_paused or self.queue.qsize() >= READ_AHEAD_MESSAGES
                or sum(len(f) for f in self.frames) > READ_AHEAD_BYTES):
            super().send_receive_event_to_app()
            return
        # uvicorn pauses the transport after queueing unless it takes it for paused already.
        self.read_paused = True
        try:
            super().send_receive_event_to_app()
        finally:
            self.read_paused = False
