"""Agent names belong to the key that first registered them, so a stranger cannot take one over.

Without COLLAB_AGENT_TOKEN anyone who reaches the hub may register an agent. A lease alone let a
stranger register "ai" the moment the real service stopped renewing (or the hub restarted), and an
invite to the listed "ai" then sealed a room's write secret to the stranger. So a name stays bound
to its first key for BINDING_SECONDS after that key last registered it; a running agent renews the
binding with every lease.

One hub keeps the bindings in a small JSON file in its data directory (mode 0600), so a restart
does not free every name for whoever registers first afterwards. Hubs sharing Redis keep them there
(collab.hub.agent_directory_redis).
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Callable, Final

log = logging.getLogger(__name__)

BINDING_SECONDS: Final = 30 * 86400.0
MAX_BOUND_NAMES: Final = 4096  # with 30 registrations a minute per address: hours to fill, from one address
# A renewal is written to disk only when it moves the expiry by this much: a running agent renews every
# 20 s, and the file need not follow each renewal for a binding that lasts 30 days.
WRITE_AFTER_SECONDS: Final = 86400.0


class NameBindings:
    def __init__(self, path: Path | None, clock: Callable[[], float] = time.time,
                 ttl: float = BINDING_SECONDS, limit: int = MAX_BOUND_NAMES) -> None:
        self.path = path
        self._clock = clock
        self.ttl = ttl
        self.limit = limit
        self._bound: dict[str, tuple[str, float]] = {}  # name -> (public key, bound until)
        self._written: dict[str, float] = {}  # name -> the "bound until" the file has
        self._load()

    def holder(self, name: str) -> str | None:
        """The public key ``name`` is bound to now, if any."""
        entry = self._bound.get(name)
        if entry is None or entry[1] <= self._clock():
            return None
        return entry[0]

    def has_room(self, name: str) -> bool:
        """Whether ``bind(name, ...)`` would find space (a full table forgets expired names first)."""
        if name in self._bound or len(self._bound) < self.limit:
            return True
        now = self._clock()
        for stale in [n for n, (_, until) in self._bound.items() if until <= now]:
            del self._bound[stale]
        return len(self._bound) < self.limit

    def bind(self, name: str, public_key: str) -> None:
        """Bind (or renew) ``name`` to ``public_key``; the caller checked ``holder`` and ``has_room``."""
        until = self._clock() + self.ttl
        self._bound[name] = (public_key, until)
        if until - self._written.get(name, float("-inf")) >= WRITE_AFTER_SECONDS:
            self._save()

    # -- the file --------------------------------------------------------------------------------

    def _load(self) -> None:
        if self.path is None or not self.path.exists():
            return
        try:
            raw = json.loads(self.path.read_text())
            now = self._clock()
            for name, entry in raw.items():
                key, until = str(entry["public_key"]), float(entry["until"])
                if until > now:
                    self._bound[name] = (key, until)
                    self._written[name] = until
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
            # Refusing to start would let one bad byte take the hub down; starting with what could
            # be read keeps every other binding. Say so loudly: names in it are unprotected.
            log.error("cannot read agent name bindings from %s (%s): names bound there are free again", self.path, exc)

    def _save(self) -> None:
        if self.path is None:
            return
        data = {name: {"public_key": key, "until": until} for name, (key, until) in self._bound.items()}
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump(data, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:
            log.error("cannot save agent name bindings to %s: %s", self.path, exc)
            return
        self._written = {name: until for name, (_, until) in self._bound.items()}
