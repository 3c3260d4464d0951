"""The workspace's errors and its one rule for file paths (re-exported by collab.workspace)."""

from __future__ import annotations

MAX_PATH_BYTES = 1024  # whole relative path, UTF-8
MAX_SEGMENT_BYTES = 255  # one name: what ext4, APFS and NTFS all accept


class WorkspaceError(ValueError):
    """A request the workspace schema does not allow (bad path, unknown id, bad status)."""


class PathError(WorkspaceError):
    """A file path that is not a safe, relative, /-separated workspace path."""


def validate_path(path: str) -> str:
    """Return ``path`` if it is a legal workspace path, else raise :class:`PathError` saying why.

    Legal: relative, ``/``-separated, no empty, ``.`` or ``..`` segment, no backslash (a Windows
    separator would let one path mean two files), no NUL or other control characters, at most
    MAX_PATH_BYTES bytes in total and MAX_SEGMENT_BYTES per segment.
    """
    if not isinstance(path, str):
        raise PathError(f"a file path must be a string, not {type(path).__name__}")
    if not path:
        raise PathError("empty file path")
    shown = path if len(path) <= 80 else path[:77] + "..."
    if "\x00" in path:
        raise PathError(f"file path {shown!r} contains a NUL character")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in path):
        raise PathError(f"file path {shown!r} contains a control character")
    if "\\" in path:
        raise PathError(f"file path {shown!r} contains a backslash: use / to separate folders")
    if path.startswith("/") or (len(path) > 1 and path[1] == ":"):
        raise PathError(f"file path {shown!r} is absolute: workspace paths are relative")
    try:
        size = len(path.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise PathError(f"file path {shown!r} is not valid Unicode") from exc
    if size > MAX_PATH_BYTES:
        raise PathError(f"file path {shown!r} is {size} bytes long; the limit is {MAX_PATH_BYTES}")
    for segment in path.split("/"):
        if segment in ("", ".", ".."):
            raise PathError(f"file path {shown!r} has an empty, '.' or '..' segment")
        if len(segment.encode("utf-8")) > MAX_SEGMENT_BYTES:
            raise PathError(f"file path {shown!r} has a name over {MAX_SEGMENT_BYTES} bytes")
    return path
