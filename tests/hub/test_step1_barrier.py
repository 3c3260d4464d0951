"""A sync step 1 is answered after the updates its sender sent before it are in the room.

The hub applies an update only once the store has it (collab.hub.room), so a client that uploads a
history and then sends its sync step 1 as a barrier (the benchmark's history upload does) must get
its answer only when the upload is durable and applied: whoever joins right after the answer gets
the whole history in their first answer, not part of it followed by the rest.
"""

from __future__ import annotations

import pycrdt
from websockets.asyncio.client import ClientConnection, connect

from collab.protocol import yjs
from tests.support.hub_process import HubProcess

UPDATES = 20_000  # uploaded faster than they commit: ~0.3 s of commits behind the last frame read


def history() -> tuple[list[bytes], bytes, str]:
    """A typing history as separate updates, its final state vector and text."""
    doc: pycrdt.Doc[pycrdt.Text] = pycrdt.Doc()
    text = doc.get("code", type=pycrdt.Text)
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    for i in range(UPDATES):
        text += f"{i % 10}"
    return updates, doc.get_state(), str(text)


async def next_sync(ws: ClientConnection, kind: yjs.SyncType) -> bytes:
    while True:
        message = yjs.parse_message(await ws.recv(decode=False))  # type: ignore[arg-type]
        if isinstance(message, yjs.SyncMessage) and message.kind == kind:
            return message.payload


async def test_a_joiner_after_the_barrier_gets_the_whole_upload_in_its_first_answer(hub: HubProcess) -> None:
    updates, state, expected = history()
    url = f"{hub.ws_url}/ws/barrier"
    async with connect(url, max_size=None) as uploader, connect(url, max_size=None) as joiner:
        await uploader.send(yjs.sync_step1(b"\x00"))
        await next_sync(uploader, yjs.SyncType.STEP2)
        for update in updates:
            await uploader.send(yjs.sync_update(update))
        await uploader.send(yjs.sync_step1(state))
        assert await next_sync(uploader, yjs.SyncType.STEP2) == b"\x00\x00"  # nothing it lacks
        # The joiner is connected already (no handshake to wait for): its first answer is the room
        # as it is the moment the barrier was answered.
        await joiner.send(yjs.sync_step1(b"\x00"))
        first = await next_sync(joiner, yjs.SyncType.STEP2)
    doc: pycrdt.Doc[pycrdt.Text] = pycrdt.Doc()
    doc.apply_update(first)
    assert str(doc.get("code", type=pycrdt.Text)) == expected
