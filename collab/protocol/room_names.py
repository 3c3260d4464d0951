"""What a room name may be: short, URL-safe, and never a path. One rule for hub and clients.

1-128 of ``[A-Za-z0-9._-]``, never "." or "..", so a room name can never act as a relative path
where a store maps rooms to files. Encrypted room ids (22 base64url characters) always pass.
"""

from __future__ import annotations

import re

ROOM_NAME = re.compile(r"[A-Za-z0-9._-]{1,128}")
# The rule in words, for error messages and HTTP answers.
ROOM_NAME_RULE = "room names are 1-128 characters of A-Z a-z 0-9 . _ -"
RESERVED = frozenset((".", ".."))


def valid_room_name(name: object) -> bool:
    return isinstance(name, str) and ROOM_NAME.fullmatch(name) is not None and name not in RESERVED
