"""The hub relays and stores ciphertext only: no trace of what people type, anywhere it can look."""

from __future__ import annotations

import pycrdt

from collab.protocol import relay_frames as frames
from tests.e2ee.support import data_bytes, joined, new_room
from tests.support.waiting import eventually
from tests.support.hub_process import HubProcess

SECRET_TEXT = "launch codes: hunter2-XYZZY-4242"
SECRET_FILE = "secret_plan.py"


async def test_two_writers_leave_no_plaintext_in_store_logs_or_frames(hub: HubProcess) -> None:
    keys = new_room(hub)
    captured: list[tuple[str, bytes]] = []

    def record(direction: str, frame: bytes) -> None:
        captured.append((direction, frame))

    async with joined(hub, keys, on_frame=record) as alice, joined(hub, keys, on_frame=record) as bob:
        files = alice.doc.get("files", type=pycrdt.Map)
        files[SECRET_FILE] = pycrdt.Text()
        text = files[SECRET_FILE]
        for ch in SECRET_TEXT:
            text += ch  # one update per keystroke, like an editor
        alice.awareness.set_local_state({"user": {"name": "alice"}, "file": SECRET_FILE})
        bob_files = bob.doc.get("files", type=pycrdt.Map)
        await eventually(lambda: SECRET_FILE in bob_files and str(bob_files[SECRET_FILE]) == SECRET_TEXT)
        bob_text = bob_files[SECRET_FILE]
        bob_text += " (reviewed)"
        await eventually(lambda: str(text).endswith("(reviewed)"))
        await eventually(lambda: any(s.get("file") == SECRET_FILE for s in bob.awareness.states.values()))
        await alice.flush()
        await bob.flush()
        # Positive control: the same search finds the secrets in what the clients hold.
        state = alice.doc.get_update()
        assert SECRET_TEXT.encode() in state and SECRET_FILE.encode() in state
        on_disk_live = data_bytes(hub.data)

    assert alice.rejected == [] and bob.rejected == []
    kinds = {frames.decode(f).__class__ for _, f in captured}
    assert {frames.Publish, frames.Ack, frames.Entry, frames.Awareness, frames.AwarenessRelay} <= kinds
    assert {d for d, _ in captured} == {"in", "out"}
    hub.stop()
    on_disk = on_disk_live + data_bytes(hub.data)
    for secret in (SECRET_TEXT.encode(), SECRET_FILE.encode(), b"hunter2", b"alice", b"reviewed"):
        assert secret not in on_disk, f"{secret!r} is in the hub's data directory"
        assert secret.decode() not in hub.log(), f"{secret!r} is in the hub's log"
        leaked = [d for d, f in captured if secret in f]
        assert not leaked, f"{secret!r} crossed the wire in the clear ({leaked})"
    # The data directory is not empty: ciphertext of every keystroke is there.
    assert keys.room_id.encode() in on_disk and b"CLB" in on_disk


async def test_a_late_joiner_decrypts_the_history(hub: HubProcess) -> None:
    keys = new_room(hub)
    async with joined(hub, keys) as first:
        first.doc.get("files", type=pycrdt.Map)[SECRET_FILE] = pycrdt.Text(SECRET_TEXT)
        await first.flush()
    async with joined(hub, keys) as late:
        files = late.doc.get("files", type=pycrdt.Map)
        assert str(files[SECRET_FILE]) == SECRET_TEXT
        assert late.rejected == []
