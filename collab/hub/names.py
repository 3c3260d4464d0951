"""What a room name may be: short, URL-safe, and never a path."""

from __future__ import annotations

import re

ROOM_NAME = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


def valid_room_name(name: str) -> bool:
    return bool(ROOM_NAME.fullmatch(name)) and name not in (".", "..")
