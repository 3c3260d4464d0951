"""A teammate's edit made while `collab join` is away (its connection dropped, or the hub restarting)
reaches the folder once it is back, and the folder never sends its older copy back over it.

Real parts: a hub process, a `collab join` process on a folder, and a Python client that edits. The
folder's file is not touched locally, so after the reconnect the session and the disk must both hold
the teammate's text, and keep holding it (an unchanged local file is no edit of the person's).
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import AsyncIterator

import pytest

from collab.client.session import Session
from collab.commands.new import create_encrypted_room
from collab.crypto.links import write_link
from tests.client.join_process import JoinProcess
from tests.support.hub_process import HubProcess
from tests.support.waiting import eventually

SETTLE_S = 2.5  # longer than the mirror's rescans, debounce and state save: a late push-back would show


def read(path: Path) -> str | None:
    try:
        return path.read_text()
    except FileNotFoundError:
        return None


class Cutter:
    """A TCP forwarder between one client and the hub: ``cut()`` drops its connections and refuses
    new ones (the client's network is gone, the hub and everyone else carry on) until ``heal()``."""

    def __init__(self, hub_port: int) -> None:
        self.hub_port = hub_port
        self.port = 0
        self.refusing = False
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()

    async def __aenter__(self) -> "Cutter":
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.cut()
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    def cut(self) -> None:
        self.refusing = True
        for writer in list(self._open):
            writer.transport.abort()
        self._open.clear()

    def heal(self) -> None:
        self.refusing = False

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.hub_port)
        except OSError:
            writer.transport.abort()
            return
        self._open.update((writer, up_writer))
        try:
            await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer))
        finally:
            for w in (writer, up_writer):
                self._open.discard(w)
                w.transport.abort()

    @staticmethod
    async def _pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, ConnectionError):
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
        dst.transport.abort()  # one side gone: so is the other (what a dropped network looks like)


@contextlib.asynccontextmanager
async def joined(link: str, folder: Path) -> AsyncIterator[JoinProcess]:
    join = await asyncio.to_thread(JoinProcess(link, folder, "jo").start)
    try:
        yield join
    finally:
        assert await asyncio.to_thread(join.stop) == 0, join.output()


async def holds(api: Session, folder: Path, text: str, join: JoinProcess) -> None:
    """The session and the folder both hold ``text``, and still do a while later."""
    await eventually(lambda: read(folder / "a.txt") == text, timeout=30, what=f"{text!r} in the folder")
    assert api.workspace.read("a.txt") == text
    await asyncio.sleep(SETTLE_S)
    assert api.workspace.read("a.txt") == text, join.output()
    assert read(folder / "a.txt") == text, join.output()


def room_link(hub: HubProcess, encrypted: bool) -> str:
    return write_link(hub.url, create_encrypted_room(hub.url)) if encrypted else f"{hub.url}/s/cut-off"


@pytest.mark.parametrize("encrypted", [False, True], ids=["plaintext", "encrypted"])
async def test_edits_made_while_the_folder_is_cut_off_and_while_it_reconnects_are_kept(
    hub: HubProcess, tmp_path: Path, encrypted: bool
) -> None:
    folder = tmp_path / "w"
    link = room_link(hub, encrypted)
    async with Cutter(hub.port) as cutter, Session.connect(link, name="ada") as api:
        api.workspace.write("a.txt", "one\n")
        await api.wait_idle()
        async with joined(link.replace(hub.url, f"http://127.0.0.1:{cutter.port}", 1), folder) as join:
            await eventually(lambda: read(folder / "a.txt") == "one\n", timeout=30)
            for round, text in enumerate(["two\n", "three\n", "four\n"]):
                cutter.cut()
                await eventually(lambda: join.output().count("hub unreachable") > round, timeout=30)
                if round == 0:
                    api.workspace.write("a.txt", text)  # while the folder is away
                    await api.wait_idle()
                    cutter.heal()
                elif round == 1:
                    cutter.heal()
                    api.workspace.write("a.txt", text)  # while it is reconnecting
                else:
                    api.workspace.write("a.txt", text.upper())  # both: away, then again while it is coming back
                    await api.wait_idle()
                    cutter.heal()
                    await asyncio.sleep(0.05)
                    api.workspace.write("a.txt", text)
                await eventually(lambda: join.output().count("reconnected") > round, timeout=30)
                await holds(api, folder, text, join)


async def test_an_edit_made_while_the_hub_restarts_reaches_the_folder(tmp_path: Path) -> None:
    hub = HubProcess(tmp_path / "data").start()
    folder = tmp_path / "w"
    try:
        link = f"{hub.url}/s/restarted"
        async with Session.connect(link, name="ada") as api:
            api.workspace.write("a.txt", "one\n")
            await api.wait_idle()
            async with joined(link, folder) as join:
                await eventually(lambda: read(folder / "a.txt") == "one\n", timeout=30)
                hub.terminate()
                await eventually(lambda: "hub unreachable" in join.output(), timeout=30)
                api.workspace.write("a.txt", "two\n")  # offline on both sides: sent when the hub is back
                hub = HubProcess(tmp_path / "data", port=hub.port).start()
                await eventually(lambda: "reconnected" in join.output(), timeout=30)
                await holds(api, folder, "two\n", join)
                api.workspace.write("a.txt", "three\n")
                await holds(api, folder, "three\n", join)
    finally:
        hub.stop()
