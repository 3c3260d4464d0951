"""The room's roster: the devices a rotation keeps, carried by the encrypted document.

A writer's client that has a device key (``collab.crypto.epochs``: an X25519 key; an agent's is the
key it is invited with) enrolls it once: ``roster[b64url(device public key)] = {"name": ..., "role":
"writer"}``. A rotation seals the new epoch's secret to every device listed there except those it
removes; a device that is not listed needs the new link. Only writers can change the document, so
the roster is as trustworthy as the writers are (docs/e2ee.md, "Rotation").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Collection

import pycrdt

from collab.crypto.encoding import b64url_decode, b64url_encode

ROSTER_MAP = "roster"
ROLES = ("writer", "reader")


@dataclass(frozen=True, slots=True)
class Device:
    key: bytes  # X25519 public key
    name: str
    role: str  # writer | reader


def roster(doc: pycrdt.Doc[Any]) -> list[Device]:
    """Every well-formed entry (a malformed one is skipped, never trusted)."""
    out = []
    for key, value in doc.get(ROSTER_MAP, type=pycrdt.Map).items():
        try:
            raw = b64url_decode(key)
        except ValueError:
            continue
        if len(raw) != 32 or not isinstance(value, dict):
            continue
        name, role = value.get("name"), value.get("role")
        if isinstance(name, str) and role in ROLES:
            out.append(Device(raw, name, str(role)))
    return sorted(out, key=lambda d: (d.name, d.key))


def enroll(doc: pycrdt.Doc[Any], key: bytes, name: str, role: str = "writer") -> bool:
    """List a device (again, when its name or role changed); False when it was listed already."""
    entries = doc.get(ROSTER_MAP, type=pycrdt.Map)
    wanted = {"name": name, "role": role}
    current = entries.get(b64url_encode(key))
    if isinstance(current, dict) and current == wanted:
        return False
    entries[b64url_encode(key)] = wanted
    return True


def drop(doc: pycrdt.Doc[Any], names: Collection[str]) -> int:
    """Remove the devices named ``names``; how many went."""
    entries = doc.get(ROSTER_MAP, type=pycrdt.Map)
    gone = [b64url_encode(d.key) for d in roster(doc) if d.name in names]
    with doc.transaction():
        for key in gone:
            del entries[key]
    return len(gone)
