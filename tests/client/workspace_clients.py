"""Participants of the workspace-schema tests: a document that goes online and offline for real.

Each client keeps one pycrdt document and one Workspace across connections; ``offline()`` leaves the
room (after what it made reached the hub) and its edits made meanwhile go in the next sync.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pycrdt

from collab.client.session import Session
from collab.workspace import TrashEntry, Workspace
from tests.support.waiting import eventually


class Client:
    def __init__(self, link: str, name: str) -> None:
        self.link = link
        self.name = name
        self.doc: pycrdt.Doc[Any] = pycrdt.Doc()
        self.ws = Workspace(self.doc, user=name)
        self.session: Session | None = None
        self._stack: contextlib.AsyncExitStack | None = None

    async def online(self) -> "Client":
        assert self._stack is None
        stack = contextlib.AsyncExitStack()
        self.session = await stack.enter_async_context(Session.connect(self.link, name=self.name, doc=self.doc))
        self._stack = stack
        return self

    async def offline(self) -> None:
        assert self._stack is not None and self.session is not None
        await self.session.wait_idle()
        stack, self._stack, self.session = self._stack, None, None
        await stack.aclose()

    def state(self) -> tuple[dict[str, str], list[tuple[str, str]]]:
        """What the user sees: every file's path and text, and the trash (id, path)."""
        return self.ws.snapshot(), [(e.id, e.path) for e in self.ws.trash()]

    def trashed(self) -> list[TrashEntry]:
        return self.ws.trash()


async def converged(*clients: Client, timeout: float = 20.0) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """Until every client shows the same files and trash; returns that state."""

    def same() -> bool:
        first = clients[0].state()
        return all(c.state() == first for c in clients[1:])

    for c in clients:
        if c.session is not None:
            await c.session.wait_idle()
    await eventually(same, timeout=timeout, what="every client holds the same files and trash")
    return clients[0].state()


@contextlib.asynccontextmanager
async def clients(link: str, *names: str) -> Any:
    """Clients online in ``link``; the first one migrates the fresh room to schema 2."""
    made = [Client(link, name) for name in names]
    try:
        for c in made:
            await c.online()
            if c is made[0]:
                c.ws.migrate()
                assert c.session is not None
                await c.session.wait_idle()
            else:
                await eventually(lambda c=c: c.ws.schema == 2, what=f"{c.name} sees schema 2")
        yield made
    finally:
        for c in made:
            if c._stack is not None:
                await c._stack.aclose()
