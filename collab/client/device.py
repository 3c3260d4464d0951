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


def folder_device_key(state_dir: Path) -> X25519PrivateKey | None:
    """The key in ``state_dir``, made on first use; None when it cannot be kept there (then this
    folder needs the new link after a rotation, as before)."""
    path = state_dir / KEY_FILE
    try:
        state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raw = path.read_bytes()
            if len(raw) == KEY_SIZE and not path.stat().st_mode & 0o077:
                return X25519PrivateKey.from_private_bytes(raw)
            return None  # not ours, or readable by others: never trusted
        key = X25519PrivateKey.generate()
        with os.fdopen(fd, "wb") as f:
            f.write(key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()))
            f.flush()
            os.fsync(f.fileno())
        return key
    except OSError:
        return None
