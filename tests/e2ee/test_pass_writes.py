"""Entries and ACKs a member gets in one loop pass go out in one socket write: what clients see.

A group commit settles many PUBLISHes in one pass of the hub's loop, and the hub writes what each
member gets from them (ENTRYs of others' updates, ACKs of its own) in one ``transport.write``
(collab.hub.encrypted_room.send_in_pass, Connection.send_frames). On the wire that must stay the
frames sent one by one: every entry, each a whole websocket message, in seq order, a writer's ACKs
in the places its entries have; and a member that stops reading is still dropped with 4408 while
the others get everything.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from collab.crypto.keys import RoomKeys
from collab.protocol import close_codes
from collab.protocol import relay_frames as frames
from collab.protocol.envelope import new_author_id, seal_update
from tests.e2ee.support import RawClient, new_room, raw_client, room_url
from tests.support.hub_process import HubProcess
from tests.support.metrics import scrape
from tests.support.waiting import eventually


def _sealed(keys: RoomKeys, count: int, size: int = 0) -> list[bytes]:
    author = new_author_id()
    return [seal_update(keys, author, n, b"u%d " % n + b"x" * size) for n in range(1, count + 1)]


class Collector:
    """Every frame one client gets, read as they come (so the hub never sees it fall behind)."""

    def __init__(self, client: RawClient) -> None:
        self.client = client
        self.frames: list[frames.Frame] = []
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while True:
            self.frames.append(await self.client.recv(timeout=60))

    async def first(self, n: int) -> list[frames.Frame]:
        await eventually(lambda: len(self.frames) >= n or self.task.done(), timeout=60, what=f"{n} frames")
        if self.task.done():
            self.task.result()  # its error, if it failed
        await asyncio.sleep(0.2)  # anything more than expected would show up meanwhile
        self.task.cancel()
        return self.frames


def _seq_of(frame: frames.Frame) -> int:
    assert isinstance(frame, (frames.Entry, frames.Ack)), frame
    return frame.seq


async def test_a_burst_from_two_writers_reaches_everyone_in_order_and_whole(hub: HubProcess) -> None:
    keys = new_room(hub)
    url = room_url(hub, keys)
    count = 150
    sealed = [_sealed(keys, count), _sealed(keys, count)]
    async with raw_client(url) as w1, raw_client(url) as w2, raw_client(url) as reader:
        for client in (w1, w2, reader):
            await client.hello(keys)
        reading = [Collector(c) for c in (w1, w2, reader)]

        async def burst(client: RawClient, envelopes: list[bytes]) -> None:
            # Not waiting for ACKs: the hub commits many at once and settles them in one pass.
            for ref, envelope in enumerate(envelopes, 1):
                await client.ws.send(frames.publish(ref, envelope))

        await asyncio.gather(burst(w1, sealed[0]), burst(w2, sealed[1]))
        everything = 2 * count
        got = [await c.first(everything) for c in reading]

    for mine, theirs, frames_seen in ((sealed[0], sealed[1], got[0]), (sealed[1], sealed[0], got[1])):
        # One frame per entry, in seq order: an ACK where the entry is its own, else the ENTRY.
        assert [_seq_of(f) for f in frames_seen] == list(range(1, everything + 1))
        acks = [f for f in frames_seen if isinstance(f, frames.Ack)]
        assert [a.client_ref for a in acks] == list(range(1, count + 1))
        assert [f.envelope for f in frames_seen if isinstance(f, frames.Entry)] == theirs
        assert len(mine) == len(acks)
    entries = got[2]
    assert all(isinstance(f, frames.Entry) for f in entries)
    assert [_seq_of(f) for f in entries] == list(range(1, everything + 1))
    by_seq = {f.seq: f.envelope for f in entries if isinstance(f, frames.Entry)}
    acked = {a.seq: env for fs, envs in ((got[0], sealed[0]), (got[1], sealed[1]))
             for a, env in zip([f for f in fs if isinstance(f, frames.Ack)], envs)}
    assert by_seq == acked, "the reader got envelopes other than the ones acknowledged, byte for byte"


async def _stuck_member(url: str, keys: RoomKeys) -> ClientConnection:
    """A member that joins and then reads nothing: a tiny receive buffer, one message queued at most."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    host, port = url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
    await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
    ws = await connect(url, sock=sock, subprotocols=[Subprotocol(frames.SUBPROTOCOL)], max_size=None, max_queue=1)
    client = RawClient(ws)
    first = await client.recv()
    assert isinstance(first, frames.Challenge)
    client.challenge = first
    await client.hello(keys)
    return ws


async def test_a_member_that_stops_reading_is_dropped_with_4408_and_the_others_get_everything(tmp_path: Path) -> None:
    hub = HubProcess(tmp_path / "data", "--max-frame-bytes", str(2**20), "--send-buffer-bytes", str(2**20)).start()
    try:
        keys = new_room(hub)
        url = room_url(hub, keys)
        sealed = _sealed(keys, 1000, size=30000)
        stuck = await _stuck_member(url, keys)
        async with raw_client(url) as writer, raw_client(url) as reader:
            await writer.hello(keys)
            await reader.hello(keys)
            reading = [Collector(c) for c in (writer, reader)]
            sent = 0
            # 30 kB envelopes, 20 at a time, until the hub gives up on the member that reads
            # nothing (kernel buffers take a few MB first, then its 1 MiB queue).
            for sent in range(1, len(sealed) + 1):
                await writer.ws.send(frames.publish(sent, sealed[sent - 1]))
                if sent % 20 == 0:
                    await asyncio.sleep(0.05)
                    if scrape(hub.url).get("collab_slow_client_disconnects_total", 0) >= 1:
                        break
            assert scrape(hub.url)["collab_slow_client_disconnects_total"] == 1
            # Read again at once: what was written to it, then the hub's close frame.
            code: int | None = None
            try:
                while True:
                    await asyncio.wait_for(stuck.recv(), 10)
            except ConnectionClosed as closed:
                code = closed.rcvd.code if closed.rcvd is not None else None
            assert code == close_codes.SLOW_CONSUMER
            # Theirs, and the LEFT of the member that was dropped.
            got = [await c.first(sent + 1) for c in reading]
        assert all(sum(isinstance(f, frames.Left) for f in fs) == 1 for fs in got)
        acks, entries = ([f for f in fs if not isinstance(f, frames.Left)] for fs in got)
        assert [_seq_of(a) for a in acks] == list(range(1, sent + 1))
        assert [_seq_of(e) for e in entries] == list(range(1, sent + 1))
        assert [e.envelope for e in entries if isinstance(e, frames.Entry)] == sealed[:sent]
    finally:
        hub.stop()
