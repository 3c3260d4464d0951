"""A client's device key: the X25519 key a key rotation seals the room's next keys to (docs/e2ee.md,
"Rotation"). `collab join` keeps one per mirrored folder in ``.collab/device.x25519`` (mode 0600), so
a folder that was mirroring a room when someone else was removed comes back without a new link.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

KEY_FILE = "device.x25519"
KEY_SIZE = 32


def folder_device_key(state_dir: Path) -> tuple[X25519PrivateKey, bool]:
    """(the key kept in ``state_dir``, True), or (a new key, False) to :func:`keep` once the folder
    is the room's: nothing is written into a folder before that. A key file readable by others, or
    of another size, is not used."""
    path = state_dir / KEY_FILE
    try:
        raw = path.read_bytes()
        if len(raw) == KEY_SIZE and not path.stat().st_mode & 0o077:
            return X25519PrivateKey.from_private_bytes(raw), True
    except OSError:
        pass
    return X25519PrivateKey.generate(), False


def keep(state_dir: Path, key: X25519PrivateKey) -> bool:
    """Write a new key (0600, never over an existing file); False when it cannot be kept (then this
    folder needs the new link after a rotation, as before)."""
    try:
        state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(state_dir / KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError:
        return False
    with os.fdopen(fd, "wb") as f:
        f.write(key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()))
        f.flush()
        os.fsync(f.fileno())
    return True
