"""Removal and key rotation on a real hub (docs/e2ee.md, "Rotation"): three members and an agent; one is
removed; the removed one can neither read new edits nor write, the others and the agent carry on
without a new link, and a joiner with the new link reads the whole history."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, AsyncIterator, Callable

import pycrdt
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from collab.client.encrypted import EncryptedProvider
from collab.client.provider import ProviderError
from collab.client.roster import roster
from collab.crypto.keys import RoomKeys
from collab.crypto.links import parse_link, read_link, write_link
from collab.protocol import close_codes
from collab.protocol import relay_frames as frames
from collab.protocol.envelope import new_author_id, seal_update
from collab.protocol.rotation import Removed, open_rotation
from tests.e2ee.support import new_room, raw_client, room_url
from tests.support.hub_process import HubProcess

pytestmark = pytest.mark.asyncio


def text(p: EncryptedProvider) -> str:
    return str(p.doc.get("code", type=pycrdt.Text))


def type_into(p: EncryptedProvider, chars: str) -> None:
    t = p.doc.get("code", type=pycrdt.Text)
    t += chars


async def until(check: Callable[[], bool], timeout: float = 15.0) -> None:
    async def wait() -> None:
        while not check():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(wait(), timeout)


@contextlib.asynccontextmanager
async def member(hub: HubProcess, keys: RoomKeys, name: str | None, **options: Any) -> AsyncIterator[EncryptedProvider]:
    device = X25519PrivateKey.generate() if name is not None else None
    provider = EncryptedProvider(keys, room_url(hub, keys), device_key=device, device_name=name, **options)
    await asyncio.wait_for(provider.start(), 20)
    try:
        yield provider
    finally:
        await provider.stop()


async def test_removed_member_loses_the_room_the_others_and_the_agent_carry_on(hub: HubProcess) -> None:
    keys = new_room(hub)
    async with (
        member(hub, keys, "ada") as ada,
        member(hub, keys, "bob") as bob,
        member(hub, keys, "cy") as cy,
        member(hub, keys, "agent") as agent,
    ):
        everyone = (ada, bob, cy, agent)
        type_into(ada, "before ")
        await until(lambda: all(text(p) == "before " for p in everyone))
        await until(lambda: {d.name for d in roster(ada.doc)} == {"ada", "bob", "cy", "agent"})
        for p in everyone:
            await p.flush()
        old = ada.keys

        new = await ada.rotate(remove=("cy",))
        assert new.epoch == 1 and new.room_id == keys.room_id and new.write_public_key != old.write_public_key

        # bob and the agent follow without a new link; cy learns it was removed and stops.
        await until(lambda: bob.keys.epoch == 1 and agent.keys.epoch == 1)
        await until(lambda: cy.fatal is not None)
        assert cy.fatal is not None and "removed from this session" in str(cy.fatal)
        assert bob.keys.write_public_key == new.write_public_key and bob.keys.can_write
        assert "cy" not in {d.name for d in roster(ada.doc)}

        type_into(bob, "bob ")
        await until(lambda: text(ada) == "before bob " and text(agent) == "before bob ")
        type_into(agent, "agent ")
        await until(lambda: all(text(p) == "before bob agent " for p in (ada, bob, agent)))
        assert text(cy) == "before "  # nothing after the rotation reached it

        # cy's old write link: the hub hands it the rotation (no box for cy in it) and closes.
        async with raw_client(room_url(hub, keys)) as raw:
            from collab.crypto import sign_challenge

            assert raw.challenge is not None
            await raw.ws.send(frames.hello(frames.ROLE_WRITER, 0, sign_challenge(old, raw.challenge.challenge)))
            rotated = await raw.recv()
            assert isinstance(rotated, frames.Rotated)
            with pytest.raises(Removed):
                open_rotation(rotated.envelope, old, device_key=X25519PrivateKey.generate())
            with pytest.raises(Exception):
                await raw.recv()
            assert raw.ws.close_code == close_codes.KEYS_ROTATED

        # A writer of the old epoch cannot start over either: its provider stops with "removed".
        with pytest.raises(ProviderError, match="removed from this session"):
            async with member(hub, old, "cy"):
                pass

        # An old-epoch update placed after the rotation (as a colluding hub would) is refused by the
        # others: nothing of an older epoch may follow the rotation that ended it.
        forged = seal_update(old, new_author_id(), 1, _insert_update(ada.doc, "cy was here "))
        before = text(ada)
        ada._log.entry(10_000, forged)
        assert text(ada) == before
        assert ada.rejected[-1].error == "WrongEpoch"

        # A joiner with the new link reads the whole history, pre-rotation edits included.
        link = write_link(hub.url, ada.keys)
        assert "&e=1" in link
        joiner_keys = parse_link(link).keys
        assert joiner_keys is not None
        async with member(hub, joiner_keys, None) as joiner:
            await until(lambda: text(joiner) == "before bob agent ")
        reader_keys = parse_link(read_link(hub.url, ada.keys)).keys
        assert reader_keys is not None and not reader_keys.can_write
        async with member(hub, reader_keys, None) as reader:
            await until(lambda: text(reader) == "before bob agent ")


def _insert_update(doc: pycrdt.Doc[Any], chars: str) -> bytes:
    """An update that appends ``chars`` to a copy of ``doc``'s text (what a removed writer would send)."""
    copy: pycrdt.Doc[Any] = pycrdt.Doc()
    copy.apply_update(doc.get_update())
    before = copy.get_state()
    t = copy.get("code", type=pycrdt.Text)
    t += chars
    return copy.get_update(before)


async def test_collab_rotate_prints_new_links_and_keeps_the_roster(hub: HubProcess) -> None:
    import os
    import sys

    keys = new_room(hub)
    async with member(hub, keys, "ada") as ada, member(hub, keys, "cy") as cy:
        type_into(ada, "hello ")
        await until(lambda: text(cy) == "hello " and len(roster(ada.doc)) == 2)
        await ada.flush()
        await cy.flush()
        env = {**os.environ, "COLLAB_LINK": write_link(hub.url, keys)}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "collab", "rotate", "--remove", "cy", "--remove", "nobody",
            env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 1 and b"not in the room's roster: nobody (listed: ada, cy)" in err
        assert keys.write_secret is not None and keys.write_secret.hex() not in (out + err).decode()

        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "collab", "rotate", "--remove", "cy",
            env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err.decode()
        write, read = out.decode().split()
        assert b"key epoch 1; kept without a new link: ada" in err
        new = parse_link(write).keys
        assert new is not None and new.epoch == 1 and "#r=" in read and read.endswith("&e=1")
        await until(lambda: ada.keys.epoch == 1 and cy.fatal is not None)
        assert ada.keys.write_public_key == new.write_public_key
        type_into(ada, "after")
        async with member(hub, new, None) as joiner:
            await until(lambda: text(joiner) == "hello after")
        assert text(cy) == "hello "


async def test_a_joined_folder_is_kept_through_a_rotation(hub: HubProcess, tmp_path: Any) -> None:
    from collab.workspace import Workspace
    from tests.client.join_process import JoinProcess

    keys = new_room(hub)
    folder = tmp_path / "w"
    folder.mkdir()
    async with member(hub, keys, "ada") as ada:
        ws = Workspace(ada.doc)
        # As every current client does once synced (Session.connect, the page). Left at schema 1, the
        # folder's `collab join` migrates the room as it connects; when the rotation holds that
        # migration back, ada's edit below lands in the schema-1 file the migration then replaces.
        ws.migrate()
        ws.write("a.txt", "one\n")
        await ada.flush()
        join = await asyncio.to_thread(JoinProcess(write_link(hub.url, keys), folder, "jo").start)
        try:
            await until(lambda: (folder / "a.txt").exists() and "jo" in {d.name for d in roster(ada.doc)}, 30)
            assert (folder / ".collab" / "device.x25519").stat().st_mode & 0o777 == 0o600
            await ada.rotate()
            ws.write("a.txt", "two\n")  # while the folder's client is still reconnecting under the new keys
            await until(lambda: (folder / "a.txt").read_text() == "two\n", 30)
            (folder / "b.txt").write_text("from the folder\n")
            await until(lambda: "b.txt" in ws.paths(), 30)
            assert ws.read("a.txt") == "two\n"  # ada's edit is still there, in the session too
        finally:
            await asyncio.to_thread(join.stop)
            ws.close()
