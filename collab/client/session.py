"""Session: the asyncio API for one participant in a room.

    async with Session.connect(link, name="ada", color="#30bced") as s:
        s.workspace.write("main.py", "print('hi')\\n")
        s.set_cursor("main.py", 5)
        print(s.peers())

The link decides the protocol: a plaintext link (no fragment) speaks y-websocket through
``PlaintextProvider``; an encrypted link (``#k=`` or ``#r=``) speaks the E2EE relay protocol through
``EncryptedProvider``.
"""

from __future__ import annotations

import contextlib
import random
from typing import Any, AsyncIterator

import pycrdt
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from collab.client.encrypted import EncryptedProvider
from collab.client.plaintext import PlaintextProvider
from collab.client.provider import Provider, ProviderError, Status
from collab.client.transport import Transport
from collab.crypto import ParsedLink, parse_link, websocket_url
from collab.workspace import SCHEMA, Workspace, cursor_json, presence

# y-codemirror.next's demo palette: distinct on light and dark backgrounds.
COLORS = ("#30bced", "#6eeb83", "#ffbc42", "#ecd444", "#ee6352", "#9ac2c9", "#8acb88", "#1be7ff")


def make_provider(
    link: ParsedLink, doc: pycrdt.Doc[Any], awareness: pycrdt.Awareness, transport: Transport | None = None,
    *, device_key: X25519PrivateKey | None = None, device_name: str | None = None,
) -> Provider:
    """The provider a link asks for (over real websockets unless ``transport`` says otherwise).
    ``device_key``: an encrypted room's rotations keep this device (enrolled as ``device_name``)."""
    url = websocket_url(link.server_base, link.room)
    if link.keys is None:
        return PlaintextProvider(url, doc, awareness, transport=transport)
    return EncryptedProvider(link.keys, url, doc, awareness, transport=transport, device_key=device_key,
                             device_name=device_name)


class UpgradeRequired(ProviderError):
    """The room uses a workspace schema newer than this collab's."""


class Session:
    def __init__(self, link: ParsedLink, provider: Provider, name: str, color: str) -> None:
        self.link = link
        self.provider = provider
        self.doc = provider.doc
        self.awareness = provider.awareness
        self.workspace = Workspace(self.doc, user=name)  # who created or deleted a file (the trash says)
        self.name = name
        self.color = color
        self._file: str | None = None
        self._cursor: tuple[dict[str, Any], dict[str, Any]] | None = None
        self._fields: dict[str, Any] = {}  # more presence fields (an inline request) that cursor moves keep
        self._publish()

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(
        cls,
        link: str | ParsedLink,
        *,
        name: str,
        color: str | None = None,
        timeout: float | None = 30.0,
        doc: pycrdt.Doc[Any] | None = None,
        transport: Transport | None = None,
        device_key: X25519PrivateKey | None = None,
    ) -> AsyncIterator["Session"]:
        """Join the room, wait for the first sync (or raise ProviderError), leave cleanly on exit."""
        parsed = parse_link(link) if isinstance(link, str) else link
        doc = doc or pycrdt.Doc()
        awareness = pycrdt.Awareness(doc)
        provider = make_provider(parsed, doc, awareness, transport, device_key=device_key, device_name=name)
        session = cls(parsed, provider, name, color or random.choice(COLORS))
        try:
            # Both providers end start() at the first failure before any sync (refused, bad
            # certificate, HTTP status, final close) with its reason; ``timeout`` bounds the rest.
            await provider.start(timeout=timeout)
        except BaseException:
            await provider.stop()
            session.workspace.close()
            raise
        try:
            session.check_schema()
            session.migrate()
            yield session
        finally:
            await provider.stop()
            session.workspace.close()

    def check_schema(self) -> None:
        """A room of a later workspace schema than this collab knows is not read or written (it
        would corrupt what it does not understand): raise the one line that says to upgrade."""
        schema = self.workspace.schema
        if schema > SCHEMA:
            raise UpgradeRequired(
                f"room {self.link.room} uses workspace schema {schema}; this collab reads schema {SCHEMA}: "
                "upgrade collab (pip install -U collab)"
            )

    def migrate(self) -> bool:
        """A schema-1 room (every release before schema 2) opened with write access is migrated in
        place now that its history is here, as the page does (docs/workspace.md): once, since a
        migrated room says so, and alike from every client that does it at the same moment. False
        when there was nothing to do (schema 2 already, or a read-only link)."""
        if not self.writable:
            return False
        migrated = self.workspace.schema < SCHEMA and self.workspace.migrate()
        self.workspace.follow_legacy()  # an older client's edits reach schema 2 from now on
        return migrated

    # -- status ------------------------------------------------------------------------------------

    @property
    def status(self) -> Status:
        return self.provider.status

    @property
    def pending(self) -> int:
        return self.provider.pending

    @property
    def fatal(self) -> ProviderError | None:
        """Why the session ended for good (a final close from the hub); None while it lives or retries."""
        return self.provider.fatal

    @property
    def writable(self) -> bool:
        return self.link.keys is None or self.link.keys.write_secret is not None

    async def wait_idle(self) -> None:
        """Until connected with nothing of ours waiting (see each provider's ``pending``)."""
        await self.provider.wait_idle()

    # -- presence ----------------------------------------------------------------------------------

    def set_file(self, path: str | None) -> None:
        self._file = path
        self._cursor = None
        self._publish()

    def set_cursor(self, path: str, anchor: int, head: int | None = None) -> None:
        """Show our cursor (and selection anchor..head, code-point indices) in ``path``."""
        ytext = self.workspace.text(path)
        self._file = path
        self._cursor = (cursor_json(ytext, anchor), cursor_json(ytext, anchor if head is None else head))
        self._publish()

    def set_field(self, key: str, value: Any) -> None:
        """Publish one more presence field (None removes it); set_file/set_cursor keep it."""
        if value is None:
            if self._fields.pop(key, None) is None:
                return
        else:
            self._fields[key] = value
        self._publish()

    def peers(self) -> dict[int, dict[str, Any]]:
        """Everyone else's presence, by Yjs client id (states without a user are skipped)."""
        return {
            cid: state
            for cid, state in self.awareness.states.items()
            if cid != self.doc.client_id and isinstance(state, dict) and "user" in state
        }

    def _publish(self) -> None:
        self.awareness.set_local_state({**presence(self.name, self.color, file=self._file, cursor=self._cursor),
                                        **self._fields})
