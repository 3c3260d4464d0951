"""The agent service: an AI that pages can invite into encrypted rooms, no terminal needed.

`collab agent --serve --hub URL` keeps an X25519 key pair in a file (0600) under the data
directory, announces ``{name, public key, model}`` to the hub (collab/hub/agents.py) and renews
that lease, and long-polls the hub for invites. An invite is the room secret sealed to its key
(collab/crypto/sealing.py); the service opens it, checks that the secret derives the room id it was
addressed to, and joins the room as an ordinary participant running the agent loop — one agent
per room, all sharing one model backend (each room keeps its own rate limits).

Removal: writers of a room can set ``agents[<name>].status = "removed"`` in the shared document
(the page's "Remove" button). The agent obeys by leaving and forgetting the room's keys. A removed
agent that kept the secret could still read the room: key rotation is future work (docs/ai.md).

Confirmation: after joining, the service writes an invite-ack into the encrypted document
(collab/crypto/invite_ack.py), a MAC only the holder of its private key can make for that invite,
so the page that sealed the invite knows the agent that answered is the one it sealed to.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pycrdt
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from collab.ai.agent import Agent, AgentConfig
from collab.ai.backend import ModelBackend
from collab.crypto.encoding import b64url_encode, fingerprint
from collab.crypto.invite_ack import ACKS_MAP, make_ack
from collab.crypto.sealing import SealError, SealedInvite, public_bytes, unseal
from collab.client.provider import ProviderError
from collab.client.session import Session
from collab.config import env_name
from collab.crypto.keys import RoomKeys
from collab.crypto.links import link_secrets, normalize_server_base, read_link, write_link
from collab.crypto.redact import Redactor

log = logging.getLogger(__name__)

KEY_FILE_SIZE = 32
# The hub's rule for listed names (collab/hub/agents.py NAME; a test keeps the two equal). The name
# also names the key file, so it must never carry a path separator or "..".
AGENT_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")


class KeyFileError(Exception):
    """The key file cannot be used; the message says why and what to do."""


class HubRefusal(ProviderError):
    """The hub refused this agent for a reason that retrying will not change (token, name, request)."""


class AgentNameError(ValueError):
    """A name the hub's agent directory would refuse (and that must not become a file name)."""


def checked_agent_name(name: str) -> str:
    if not AGENT_NAME.fullmatch(name):
        raise AgentNameError(
            f"--name {name!r} cannot be listed on a hub: use 1-32 characters of a-z 0-9 _ -, "
            "starting with a letter or digit"
        )
    return name


def key_file_for(data: Path, name: str) -> Path:
    """Where the service named ``name`` keeps its key under the data directory (the name is checked first)."""
    return data / "agents" / f"{checked_agent_name(name)}.x25519"


def load_or_create_key(path: Path) -> X25519PrivateKey:
    """The service's long-term key: created once with mode 0600, refused if others can read it.

    It must outlive every restart: the hub binds a name to the key that first registered it, so a
    service that lost its key has lost its name. The key is on disk (fsynced, folder too) before
    it is ever registered, and the folders made for it are 0700.
    """
    try:
        return _load_or_create_key(path)
    except OSError as exc:  # a read-only or missing folder, a file where a folder should be, ...
        raise KeyFileError(f"cannot keep the agent's key at {path}: {exc.strerror or exc} "
                           "(choose a folder this user can write with --data or COLLAB_DATA)") from None


def _load_or_create_key(path: Path) -> X25519PrivateKey:
    _private_folders(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise KeyFileError(f"{path} is readable by other users (mode {mode:o}): chmod 600 it, or delete it for a new key")
        raw = path.read_bytes()
        if not raw:
            # Made, then the process died before writing: this key never existed, so it was never
            # registered anywhere; a new one takes its place.
            path.unlink()
            return _load_or_create_key(path)
        if len(raw) != KEY_FILE_SIZE:
            raise KeyFileError(f"{path} is not an agent key (expected {KEY_FILE_SIZE} bytes): delete it for a new key")
        return X25519PrivateKey.from_private_bytes(raw)
    key = X25519PrivateKey.generate()
    with os.fdopen(fd, "wb") as f:
        f.write(key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()))
        f.flush()
        os.fsync(f.fileno())
    _fsync_folder(path.parent)
    return key


def _private_folders(folder: Path) -> None:
    """Make ``folder`` and its missing parents with mode 0700 (``mkdir(parents=True)`` would not)."""
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    for p in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another process made it meanwhile
            p.mkdir(mode=0o700)


def _fsync_folder(folder: Path) -> None:
    """Make a new file's name durable, not only its bytes (where the platform allows it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


@dataclass
class ServiceConfig:
    hub: str
    agent: AgentConfig
    key_file: Path
    token: str | None = None
    poll_seconds: float = 10.0
    retry_seconds: float = 2.0  # the first wait after a transient failure; it doubles up to max_retry_seconds
    max_retry_seconds: float = 30.0  # well inside the hub's 60 s lease, so a short outage keeps the listing


class _Backoff:
    def __init__(self, first: float, most: float) -> None:
        self.first, self.most, self._next = first, most, first

    def next(self) -> float:
        delay, self._next = self._next, min(self._next * 2, self.most)
        return delay

    def reset(self) -> None:
        self._next = self.first


class AgentService:
    def __init__(self, config: ServiceConfig, backend: ModelBackend, redactor: Redactor | None = None) -> None:
        checked_agent_name(config.agent.name)  # before anything touches the disk or the hub
        self.config = config
        # The token and, as rooms are joined, their link secrets: kept out of every error line.
        self.redact = redactor or Redactor()
        self.redact.add(config.token)
        self.backend = backend
        self.hub = normalize_server_base(config.hub)
        self.key = load_or_create_key(config.key_file)
        self.public_key = public_bytes(self.key)
        self.fingerprint = fingerprint(self.public_key)
        self.rooms: dict[str, asyncio.Task[None]] = {}
        # The document of each room being served, once joined: a second invite to it is confirmed there.
        self._docs: dict[str, pycrdt.Doc[Any]] = {}
        self.registered = asyncio.Event()
        self._http = httpx.AsyncClient(
            base_url=self.hub,
            timeout=httpx.Timeout(10.0, read=config.poll_seconds + 10.0),
            headers={"authorization": f"Bearer {config.token}"} if config.token else {},
        )

    @property
    def name(self) -> str:
        return self.config.agent.name

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until ``stop`` is set; raises HubRefusal when the hub refuses this agent for good."""
        tasks = [asyncio.create_task(self._register_loop()), asyncio.create_task(self._invite_loop())]
        stopped = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait([stopped, *tasks], return_when=asyncio.FIRST_COMPLETED)
            for task in tasks:
                if task.done():
                    task.result()  # the loops end only by raising: a refusal, or a bug that must show
        finally:
            for pending in [stopped, *tasks, *self.rooms.values()]:
                pending.cancel()
            await asyncio.gather(stopped, *tasks, *self.rooms.values(), return_exceptions=True)
            await self._http.aclose()

    # -- the hub's directory -----------------------------------------------------------------------

    async def register(self) -> float:
        """Announce (or renew) this agent; returns the lease in seconds."""
        body = {
            "name": self.name,
            "public_key": b64url_encode(self.public_key),
            "model": self.backend.model,
            "backend": self.backend.spec,
            "description": self.backend.description[:300],
            "local": self.backend.local,
        }
        response = await self._http.post("/api/agents", json=body)
        if response.status_code != 200:
            raise self._refused(response, "list this agent")
        return float(response.json().get("lease_seconds", 60))

    def _refused(self, response: httpx.Response, doing: str) -> ProviderError:
        """A HubRefusal when asking again cannot help, else a ProviderError worth a retry."""
        status, said = response.status_code, self.redact(_error_text(response))
        if status >= 500 or status in (408, 425, 429):  # restarting, overloaded, behind a proxy, rate limiting
            return ProviderError(f"the hub answered {status}" + (f": {said}" if said else ""))
        token = env_name("agent_token")
        if status == 401:
            why = (f"{token} is not the hub's agent token" if self.config.token
                   else f"the hub needs its agent token: set {token} to the hub's value")
        elif status == 409:
            # The hub keeps a name for the key that first registered it (unless it has an agent token),
            # so stopping the other agent does not free the name; the fingerprint is what pages show.
            mine = f"this service's key is {self.config.key_file}, fingerprint {self.fingerprint}"
            if not said or "running agent" in said:
                why = (f"the name {self.name!r} is held by another running agent (another key): choose another "
                       f"--name, or run this service with that agent's key file ({mine})")
            else:
                why = f"{said} ({mine})"
        elif status == 404:
            why = "there is no agent directory at this address: is --hub the collab hub's base URL?"
        else:
            why = said or "no reason given"
        return HubRefusal(f"the hub at {self.hub} refused to {doing} ({status}): {why}")

    async def _register_loop(self) -> None:
        retry = _Backoff(self.config.retry_seconds, self.config.max_retry_seconds)
        failing = False
        while True:
            try:
                lease = await self.register()
            except HubRefusal:
                raise
            except (httpx.HTTPError, ProviderError, ValueError) as exc:
                delay = retry.next()
                log.warning("agent service %s: cannot register with %s: %s; retrying in %g s",
                            self.name, self.hub, self.redact(_problem(exc)), delay)
                failing = True
                await asyncio.sleep(delay)
                continue
            retry.reset()
            if not self.registered.is_set() or failing:
                log.info("agent service %s registered at %s, key fingerprint %s", self.name, self.hub, self.fingerprint)
                self.registered.set()
                failing = False
            await asyncio.sleep(max(1.0, lease / 3))

    async def _invite_loop(self) -> None:
        after = ""
        retry = _Backoff(self.config.retry_seconds, self.config.max_retry_seconds)
        await self.registered.wait()
        while True:
            try:
                response = await self._http.get(
                    f"/api/agents/{self.name}/invites", params={"after": after, "wait": self.config.poll_seconds}
                )
                if response.status_code != 200:
                    raise self._refused(response, "hand out this agent's invites")
                data = response.json()
            except HubRefusal:
                raise
            except (httpx.HTTPError, ProviderError, ValueError) as exc:
                delay = retry.next()
                log.warning("agent service %s: cannot read invites: %s; retrying in %g s",
                            self.name, self.redact(_problem(exc)), delay)
                await asyncio.sleep(delay)
                continue
            retry.reset()
            for raw in data.get("invites", ()):
                after = str(raw.get("id", after))
                self.accept_invite(raw)
            after = str(data.get("last") or after)

    # -- rooms -------------------------------------------------------------------------------------

    def accept_invite(self, raw: Any) -> str | None:
        """Open one invite and join its room; a bad invite is logged (without content) and dropped."""
        try:
            invite = SealedInvite.from_json(raw)
            keys = unseal(invite, self.key)
        except SealError as exc:
            log.warning("agent service %s: dropped an invite: %s", self.name, exc)
            return None
        running = self.rooms.get(keys.room_id)
        if running is not None and not running.done():
            doc = self._docs.get(keys.room_id)
            if doc is not None:  # invited again while here: confirm the new invite (the page waits for it)
                self._confirm(doc, invite)
            return keys.room_id
        self.rooms[keys.room_id] = asyncio.create_task(self._serve_room(keys, invite), name=f"agent room {keys.room_id}")
        return keys.room_id

    def _confirm(self, doc: pycrdt.Doc[Any], invite: SealedInvite) -> None:
        """Write the invite-ack for ``invite``: the inviting page shows the agent as confirmed only then."""
        ack = make_ack(invite, self.key, self.name, doc.client_id)
        acks = doc.get(ACKS_MAP, type=pycrdt.Map)
        with doc.transaction():
            acks[ack.invite_id] = ack.to_json()

    async def _serve_room(self, keys: RoomKeys, invite: SealedInvite) -> None:
        self.redact.add(*link_secrets(keys))
        link = write_link(self.hub, keys) if keys.write_secret is not None else read_link(self.hub, keys)
        if keys.write_secret is None:
            log.warning("agent service %s: invited to room %s with a read-only secret; it cannot answer there",
                        self.name, keys.room_id)
            return
        try:
            async with Session.connect(link, name=self.name, color=self.config.agent.color, device_key=self.key) as session:
                ws = session.workspace  # closed with the session (its observers go with it)
                if ws.agent_removed(self.name):
                    # An old invite replayed after a removal: a fresh invite clears the flag first.
                    log.info("agent service %s: not joining room %s, it removed this agent", self.name, keys.room_id)
                    return
                self._docs[keys.room_id] = session.doc
                self._confirm(session.doc, invite)
                left = asyncio.Event()

                def on_agents(_event: object) -> None:
                    if ws.agent_removed(self.name):
                        left.set()

                agents_map = ws.agents
                sub = agents_map.observe(on_agents)
                try:
                    async with Agent(session.doc, session.awareness, self.backend, self.config.agent,
                                     redactor=self.redact, send_direct=session.provider.send_direct):
                        log.info("agent service %s joined room %s", self.name, keys.room_id)
                        await left.wait()
                finally:
                    agents_map.unobserve(sub)
                log.info("agent service %s left room %s: removed by a participant", self.name, keys.room_id)
                with contextlib.suppress(asyncio.TimeoutError, ProviderError):
                    await asyncio.wait_for(session.wait_idle(), 5)
        except ProviderError as exc:
            log.warning("agent service %s: room %s failed: %s", self.name, keys.room_id, self.redact(str(exc)))
        finally:
            self.rooms.pop(keys.room_id, None)
            self._docs.pop(keys.room_id, None)


def _error_text(response: httpx.Response) -> str:
    """The hub's one-line ``error``, if the answer is the hub's JSON (a proxy in front may send HTML)."""
    try:
        data = response.json()
    except ValueError:
        return ""
    error = data.get("error") if isinstance(data, dict) else None
    return error[:300] if isinstance(error, str) else ""


def _problem(exc: Exception) -> str:
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect ({exc})" if str(exc) else "cannot connect"
    if isinstance(exc, httpx.TimeoutException):
        return "no answer in time"
    if isinstance(exc, ProviderError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
