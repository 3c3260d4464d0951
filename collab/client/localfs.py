"""The local side of a folder mirror: reading files as text (or refusing why), atomic writes, scans.

All paths given to these functions are workspace paths (relative, /-separated). Whatever writes,
moves or deletes a path passes ``inside`` first: the rule of ``safe_paths``, then no link on the way.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from collab.client import safe_paths
from collab.client.ignore import IgnoreRules

DEFAULT_MAX_BYTES = 1024 * 1024
_SNIFF = 8192


@dataclass(frozen=True, slots=True)
class Skipped:
    reason: str  # shown to the user: "binary", "over 1 MiB", ...


def read_text(path: Path, max_bytes: int) -> str | Skipped | None:
    """The file's text; Skipped(reason) for binaries, big files and files it may not read; None if
    it is not a regular file (or a folder on the way is a file: ``a/b`` where ``a`` is a file)."""
    try:
        st = path.lstat()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        return Skipped(f"cannot be read: {exc.strerror or exc}")
    if not path.is_file() or path.is_symlink():
        return None
    if st.st_size > max_bytes:
        return Skipped(f"{st.st_size} bytes, over the {max_bytes}-byte limit")
    try:
        data = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None
    except OSError as exc:
        return Skipped(f"cannot be read: {exc.strerror or exc}")
    if len(data) > max_bytes:
        return Skipped(f"over the {max_bytes}-byte limit")
    if b"\x00" in data[:_SNIFF]:
        return Skipped("binary file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return Skipped("binary file (not UTF-8 text)")


def escape(root: Path, rel: str, *, allow_tool_config: bool = False) -> str | None:
    """Why writing ``rel`` would land somewhere else than root/rel as the rule allows it (None: it
    would not): a folder on the way is a link out of root, or into a folder the rule refuses (a
    link ``cfg -> .git`` turns ``cfg/config`` into ``.git/config``), or the file itself is a link."""
    target = root / rel
    real_root = root.resolve()
    parent = target.parent.resolve()
    if parent != real_root and real_root not in parent.parents:
        return f"{rel}: a folder on the way is a link out of {root}"
    real_rel = (parent / target.name).relative_to(real_root).as_posix()
    if real_rel != rel and safe_paths.refusal(real_rel, allow_tool_config=allow_tool_config) is not None:
        return f"{rel}: a folder on the way is a link to {real_rel}, which is not mirrored"
    if target.is_symlink():
        return f"{rel}: is a symbolic link; not writing through it"
    return None


def inside(root: Path, rel: str, *, allow_tool_config: bool = False) -> Path:
    """root/rel, once the rule allows ``rel`` and no link on the way leads elsewhere. Every write,
    move and delete of a session path goes through here: the last line of defence."""
    safe_paths.require(rel, allow_tool_config=allow_tool_config)
    why = escape(root, rel, allow_tool_config=allow_tool_config)
    if why is not None:
        raise safe_paths.UnsafePath(why)
    return root / rel


def atomic_write(root: Path, rel: str, content: str, *, allow_tool_config: bool = False, existing: bool = False) -> None:
    """Write through a temporary file in the same folder and rename it over the target.

    A reader (an editor, a compiler, Ctrl-C) sees the old or the new file, never half of one; a
    hard link to the old file keeps the old content (the rename replaces the name, not the data).
    ``existing``: only over a file that is there (FileNotFoundError otherwise, checked last), so a
    file someone renamed or deleted a moment ago is not made again under its old name.
    """
    target = inside(root, rel, allow_tool_config=allow_tool_config)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".collab-tmp-", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content.encode("utf-8"))
        try:
            os.chmod(tmp, target.stat().st_mode & 0o7777)
        except FileNotFoundError:
            if existing:
                raise
            os.chmod(tmp, 0o644)
        if existing and not target.is_file():
            raise FileNotFoundError(errno.ENOENT, "gone from disk", str(target))
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def blocker(root: Path, rel: str) -> str | None:
    """Why ``rel`` cannot be a file here because of what else is on disk: a folder on the way is a
    file (``a`` for ``a/b``), or ``rel`` itself is a folder. None when neither is the case."""
    parts = rel.split("/")
    for i in range(1, len(parts)):
        above = "/".join(parts[:i])
        if (root / above).is_file() or (root / above).is_symlink():
            return f"{above} is a file here, so it cannot also be a folder holding {rel}"
    if (root / rel).is_dir() and not (root / rel).is_symlink():
        return f"{rel} is a folder here (it holds other files), so it cannot also be a file"
    return None


def remove(root: Path, rel: str, *, allow_tool_config: bool = False) -> None:
    """Delete a file and the folders it leaves empty (never root itself)."""
    target = inside(root, rel, allow_tool_config=allow_tool_config)
    with contextlib.suppress(OSError):
        target.unlink()
    _prune(root, target.parent)


def move(root: Path, old: str, new: str, *, allow_tool_config: bool = False) -> None:
    """Rename the file ``old`` to ``new`` (one ``os.replace``: same inode, nothing rewritten), making
    the folders ``new`` needs and removing those ``old`` leaves empty. Both paths pass ``inside``;
    FileExistsError when something is at ``new`` already (it is never replaced)."""
    src = inside(root, old, allow_tool_config=allow_tool_config)
    dst = inside(root, new, allow_tool_config=allow_tool_config)
    if not src.is_file() or src.is_symlink():
        raise FileNotFoundError(errno.ENOENT, "no file to move", str(src))
    if dst.exists() or dst.is_symlink():
        raise FileExistsError(errno.EEXIST, "something is there already", str(dst))
    dst.parent.mkdir(parents=True, exist_ok=True)
    inside(root, new, allow_tool_config=allow_tool_config)  # again, now that its folders exist
    os.replace(src, dst)
    _prune(root, src.parent)


def _prune(root: Path, folder: Path) -> None:
    """Remove ``folder`` and the folders above it while they are empty (never root itself)."""
    real_root = root.resolve()
    while folder.resolve() != real_root:
        try:
            folder.rmdir()
        except OSError:
            break
        folder = folder.parent


def walk(root: Path, rules: IgnoreRules, under: str = "") -> Iterator[str]:
    """Every regular file below root/under that the rules do not skip, as workspace paths."""
    start = root / under if under else root
    for folder, dirs, files in os.walk(start, followlinks=False):
        rel_folder = os.path.relpath(folder, root).replace(os.sep, "/")
        rel_folder = "" if rel_folder == "." else rel_folder
        if ".gitignore" in files:
            rules.load_gitignore(rel_folder)
        dirs[:] = sorted(
            d for d in dirs if not rules.ignored_dir(f"{rel_folder}/{d}" if rel_folder else d)
        )
        for name in sorted(files):
            rel = f"{rel_folder}/{name}" if rel_folder else name
            if not rules.ignored(rel) and not os.path.islink(os.path.join(folder, name)):
                yield rel

