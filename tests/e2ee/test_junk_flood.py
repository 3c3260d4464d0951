"""A stranger's junk presence costs members a few log lines and bounded memory (issue 13, finding 11).

An encrypted room's id is in its URL, which is not secret: anyone can connect as a reader and
have the hub relay presence envelopes that carry the right room id and junk ciphertext to every
member. 20,000 of them once gave 20,000 stderr lines in `collab join` and a rejection list that
only grew. The stranger here has no key at all, only the room id.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

from websockets.exceptions import ConnectionClosed

from collab.client.rejections import KEEP
from collab.client.session import Session
from collab.crypto.keys import RoomKeys, generate_write_secret
from collab.crypto.links import write_link
from collab.protocol import relay_frames as frames
from collab.protocol.envelope import new_author_id, seal_awareness
from tests.client.join_process import JoinProcess
from tests.e2ee.support import new_room, raw_client, room_url
from tests.support.hub_process import HubProcess
from tests.support.waiting import eventually

JUNK = 20_000


async def test_twenty_thousand_junk_frames_give_a_few_lines_and_a_bounded_list(hub: HubProcess, tmp_path: Path) -> None:
    keys = new_room(hub)
    link = write_link(hub.url, keys)
    folder = tmp_path / "W"
    join = await asyncio.to_thread(JoinProcess(link, folder, "ann").start)
    try:
        async with Session.connect(link, name="bob") as bob:
            stranger = RoomKeys.from_write_secret(generate_write_secret())
            forged = dataclasses.replace(stranger, room_id_bytes=keys.room_id_bytes)  # right room id, wrong key
            session_id = new_author_id()
            sent = 0
            async with raw_client(room_url(hub, keys)) as raw:
                await raw.hello(keys.read_only())
                try:
                    for counter in range(1, JUNK + 1):
                        await raw.ws.send(frames.awareness(seal_awareness(forged, session_id, counter, b"junk")))
                        sent += 1
                except ConnectionClosed:
                    pass  # a hub that cuts a flooding stranger off is fine too
                print(f"the stranger sent {sent:,} junk presence frames")
                # An edit made after the junk reaches bob behind everything the hub relayed before it.
                (folder / "after.py").write_text("ok = True\n")
                await eventually(lambda: "after.py" in bob.workspace, 60, what="join's edit after the junk")
            rejected = bob.provider.rejected
            print(f"bob kept {len(rejected):,} of the frames it dropped")
            assert rejected and {r.error for r in rejected} == {"TamperedEnvelope"}
            assert len(rejected) <= 2 * KEEP
            bob.workspace.write("from_bob.py", "b = 2\n")
            await eventually(lambda: (folder / "from_bob.py").exists(), 20, what="bob's edit in the folder")
    finally:
        code = await asyncio.to_thread(join.stop)
    lines = [line for line in join.lines if "dropped" in line]
    print(f"collab join wrote {len(join.lines)} lines, {len(lines)} about dropped frames")
    assert code == 0, join.output()
    assert 1 <= len(lines) <= 3, join.output()[-3000:]
