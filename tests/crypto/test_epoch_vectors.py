"""tests/vectors/epochs.json: the file reproduces exactly, and Python's epoch keys, boxes, rotations
and log hash give what it says (web/test/epochs.test.ts checks the browser's against the same file)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from collab.crypto.epochs import open_box
from collab.crypto.keys import RoomKeys
from collab.crypto.links import LinkError, parse_link
from collab.protocol.log_hash import LogHash, code
from collab.protocol.rotation import Removed, RotationError, check_rotation, open_rotation, parse_rotation

VECTORS = Path(__file__).parents[1] / "vectors"
V: dict[str, Any] = json.loads((VECTORS / "epochs.json").read_text())


def device(name: str) -> X25519PrivateKey:
    return X25519PrivateKey.from_private_bytes(bytes.fromhex(V["devices"][name]["private"]))


def room0() -> RoomKeys:
    return RoomKeys.from_write_secret(bytes.fromhex(V["room"]["write_secret"]))


def test_the_file_is_reproduced_byte_for_byte() -> None:
    run = subprocess.run([sys.executable, str(VECTORS / "make_epoch_vectors.py"), "--check"], capture_output=True)
    assert run.returncode == 0, run.stderr.decode()


@pytest.mark.parametrize("case", V["epochs"], ids=lambda c: f"epoch{c['epoch']}")
def test_epoch_keys(case: dict[str, Any]) -> None:
    room = bytes.fromhex(V["room"]["room_id"])
    keys = RoomKeys.for_epoch(room, case["epoch"], write_secret=bytes.fromhex(case["write_secret"]))
    for field in ("write_public_key", "read_secret", "doc_key", "awareness_key", "reader_public_key"):
        assert getattr(keys, field).hex() == case[field], field
    reader = keys.read_only()
    assert (reader.doc_key, reader.reader_public_key, reader.epoch) == (keys.doc_key, keys.reader_public_key, keys.epoch)
    for fragment in (case["write_fragment"], case["read_fragment"]):
        parsed = parse_link(f"https://hub.example/s/{V['room']['room_id_b64url']}#{fragment}").keys
        assert parsed is not None and parsed.doc_key == keys.doc_key and parsed.epoch == case["epoch"]
    # The same secret for another room, or a read capability with another write key, opens nothing.
    other = RoomKeys.for_epoch(bytes(16), case["epoch"], write_secret=bytes.fromhex(case["write_secret"]))
    assert other.doc_key != keys.doc_key
    forged = RoomKeys.for_epoch(room, case["epoch"], read_secret=keys.read_secret, write_public_key=room0().write_public_key)
    assert forged.doc_key != keys.doc_key


@pytest.mark.parametrize("case", V["boxes"], ids=lambda c: c["device"])
def test_boxes_open_for_their_device_only(case: dict[str, Any]) -> None:
    room = bytes.fromhex(V["room"]["room_id"])
    box = bytes.fromhex(case["box"])
    assert open_box(room, 1, device(case["device"]), box) == case["plaintext"].encode()
    assert open_box(room, 1, device("removed"), box) is None
    assert open_box(room, 2, device(case["device"]), box) is None  # bound to its epoch


def test_the_rotation_opens_for_each_kept_device_and_the_hub_accepts_it() -> None:
    r = V["rotation"]
    data = bytes.fromhex(r["envelope"])
    old = room0()
    rot = parse_rotation(data)
    assert (rot.epoch, rot.ref, rot.author_id.hex(), rot.write_key.hex()) == (1, 2, r["author_id"], r["new_write_public_key"])
    assert check_rotation(rot, old.room_id_bytes, 0, old.write_public_key) is None
    assert check_rotation(rot, old.room_id_bytes, 1, old.write_public_key) is not None  # not the next epoch
    for name, writer in (("kept", True), ("reader", False)):
        opened = open_rotation(data, old, device_key=device(name))
        assert opened.keys.epoch == 1 and opened.keys.can_write is writer
        assert opened.keys.write_public_key.hex() == r["new_write_public_key"]
        assert opened.chain[0].read_secret.hex() == r["chain"][0]["read_secret"]
        assert opened.starts == {1: 2} and opened.removed == ("cy",) and opened.log_hash is not None
        assert opened.log_hash.hex() == r["log_hash"]
    with pytest.raises(Removed):
        open_rotation(data, old, device_key=device("removed"))
    # A joiner of the epoch-1 link reads the back-link with its own keys.
    e1 = RoomKeys.for_epoch(old.room_id_bytes, 1, write_secret=bytes.fromhex(V["epochs"][0]["write_secret"]))
    assert open_rotation(data, e1).chain[0].write_public_key == old.write_public_key


def test_a_device_two_epochs_behind_follows_the_latest_rotation() -> None:
    r2 = V["rotation2"]
    opened = open_rotation(bytes.fromhex(r2["envelope"]), room0(), device_key=device("kept"))
    assert opened.keys.epoch == 2 and opened.keys.write_public_key.hex() == r2["new_write_public_key"]
    assert sorted(opened.chain) == [0, 1] and opened.starts == {1: 2, 2: 5}
    e1 = RoomKeys.for_epoch(room0().room_id_bytes, 1, write_secret=bytes.fromhex(V["epochs"][0]["write_secret"])).read_only()
    with pytest.raises(Removed):
        open_rotation(bytes.fromhex(r2["envelope"]), e1, device_key=device("reader"))


@pytest.mark.parametrize("case", V["rotation_tampered"], ids=lambda c: c["why"])
def test_tampered_rotations_are_refused(case: dict[str, Any]) -> None:
    error = {"RotationError": RotationError, "Removed": Removed}[case["reason"]]
    with pytest.raises(error) as raised:
        open_rotation(bytes.fromhex(case["envelope"]), room0(), device_key=device("kept"))
    assert case["reason"] != "RotationError" or not isinstance(raised.value, Removed)


def test_new_rooms_bind_the_write_key_into_the_room_id() -> None:
    b = V["bound"]
    keys = RoomKeys.from_write_secret(bytes.fromhex(V["room"]["write_secret"]), bound=True)
    assert keys.room_id == b["room_id_b64url"] != V["room"]["room_id_b64url"]
    base = f"https://hub.example/s/{b['room_id_b64url']}#"
    for fragment in (b["write_fragment"], b["read_fragment"]):
        parsed = parse_link(base + fragment).keys
        assert parsed is not None and parsed.room_id == keys.room_id and parsed.doc_key == keys.doc_key
    with pytest.raises(LinkError, match="does not match the room its key opens"):
        parse_link(base + b["forged_read_fragment"])
    # A room made before binding still parses as it did.
    old = parse_link(f"https://hub.example/s/{V['room']['room_id_b64url']}#{b['write_fragment']}").keys
    assert old is not None and not old.bound


def test_log_hash() -> None:
    h = LogHash()
    assert h.digest.hex() == V["log"]["hashes"][0]
    for seq, entry in enumerate(V["log"]["entries"], 1):
        h.entry(seq, bytes.fromhex(entry))
        assert h.digest.hex() == V["log"]["hashes"][seq]
    assert h.code == V["log"]["code"] == code(3, h.digest)


def test_an_agent_invite_to_a_rotated_room_carries_its_epoch() -> None:
    from collab.crypto.sealing import seal, unseal

    e1 = RoomKeys.for_epoch(bytes.fromhex(V["room"]["room_id"]), 1, write_secret=bytes.fromhex(V["epochs"][0]["write_secret"]))
    agent = device("kept")
    for keys in (e1, e1.read_only()):
        opened = unseal(seal(keys, bytes.fromhex(V["devices"]["kept"]["public"])), agent)
        assert (opened.epoch, opened.can_write, opened.doc_key.hex()) == (1, keys.can_write, V["epochs"][0]["doc_key"])
