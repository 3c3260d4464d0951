"""What a mirrored folder remembers in its ``.collab/`` folder, and who may mirror it.

- ``.collab/lock``: held (``flock``) by the one ``collab join`` mirroring the folder, with its pid, so a
  second join on the same folder refuses instead of racing the first one's writes. The kernel drops
  the lock when the process dies, however it dies.
- ``.collab/state.json`` and ``.collab/journal``: the room the folder mirrors (a folder never silently
  changes sessions) and, per file, a hash of the text disk and session last agreed on (the base),
  kept right through a ``kill -9`` (``collab.client.bases``). On the next join that tells a file
  edited here while the mirror was stopped from one changed only in the session.
- ``.collab/base/<hash>``: those base texts, so that a file edited on both sides while the mirror was
  stopped can be merged three ways instead of set aside.
- ``.collab/conflicts/<time>/<path>``: local copies set aside; never overwritten.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

from collab.client.provider import ProviderError
from collab.client.reconcile import text_hash as text_hash  # re-exported: the hash of a base

try:
    import fcntl
except ImportError:  # Windows: no flock; the folder is then not locked (the other safeguards hold)
    fcntl = None  # type: ignore[assignment]

STATE_DIR = ".collab"


class MirrorError(ProviderError):
    """The folder cannot be (or can no longer be) mirrored: held by another join, belongs to another
    room, or gone. A ProviderError so that ``collab join`` reports it like any failure retrying cannot
    fix: one clear line, exit status 1."""


class FolderLock:
    def __init__(self, root: Path) -> None:
        self.path = root / STATE_DIR / "lock"
        self._fd: int | None = None
        self._ino = 0

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            folder = self.path.parent.parent
            raise MirrorError(
                f"{folder} is already mirrored by process {holder} (another collab join): "
                "stop that one first, or join into another folder"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        self._ino = os.fstat(fd).st_ino

    def held(self) -> bool:
        """Our lock file is still where we put it: false once the folder was deleted, moved or replaced."""
        try:
            return self._fd is not None and os.stat(self.path).st_ino == self._ino
        except OSError:
            return False

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock; the file stays (unlinking it would race a new join)
            self._fd = None


class BaseStore:
    """The base texts by hash, one file each; files no path refers to any more are removed."""

    def __init__(self, root: Path) -> None:
        self.folder = root / STATE_DIR / "base"
        self._stored: set[str] | None = None

    def read(self, digest: str) -> str | None:
        try:
            text = (self.folder / digest).read_bytes().decode("utf-8", "surrogatepass")
        except (OSError, ValueError):
            return None
        return text if text_hash(text) == digest else None  # a damaged copy is no base

    def keep_only(self, texts: dict[str, str]) -> None:
        """Make the store hold exactly these texts (hash -> text), writing only what is new."""
        if self._stored is None:
            try:
                self._stored = set(os.listdir(self.folder))
            except FileNotFoundError:
                self._stored = set()
        for digest in self._stored - texts.keys():
            with contextlib.suppress(OSError):
                (self.folder / digest).unlink()
        self._stored &= texts.keys()
        new = texts.keys() - self._stored
        if new:
            with contextlib.suppress(FileExistsError):
                self.folder.mkdir()  # not parents: never re-create a deleted folder
            for digest in new:
                tmp = self.folder / f".{digest}.tmp"
                tmp.write_bytes(texts[digest].encode("utf-8", "surrogatepass"))
                os.replace(tmp, self.folder / digest)
                self._stored.add(digest)


EXCLUDE_LINE = f"{STATE_DIR}/"
EXCLUDE_NOTE = "# collab join / collab share: the folder mirror's own state (its lock, bases, set-aside copies)"


def git_exclude_file(root: Path) -> Path | None:
    """The ``info/exclude`` of the git repository ``root`` is in (its own or an enclosing one's;
    a worktree's ``.git`` file leads to the common one), or None when it is in none."""
    for folder in (root, *root.parents):
        dotgit = folder / ".git"
        if dotgit.is_dir():
            return dotgit / "info" / "exclude"
        if dotgit.is_file():
            try:
                first = dotgit.read_text(encoding="utf-8").splitlines()[0]
            except (OSError, UnicodeDecodeError, IndexError):
                return None
            if not first.startswith("gitdir:"):
                return None
            gitdir = (folder / first[len("gitdir:"):].strip()).resolve()
            try:
                common = (gitdir / (gitdir / "commondir").read_text(encoding="utf-8").strip()).resolve()
            except OSError:
                common = gitdir
            return common / "info" / "exclude"
    return None


def exclude_from_git(root: Path) -> Path | None:
    """Keep ``.collab/`` out of ``git status`` without touching the project's ``.gitignore``: one
    line in the repository's ``.git/info/exclude`` (this clone's own ignore list, never committed).
    Returns the file when the line was added now; None when ``root`` is in no repository, the line
    is there already, or the file cannot be written (then ``.collab/`` simply shows)."""
    exclude = git_exclude_file(root.resolve())
    if exclude is None:
        return None
    try:
        current = exclude.read_text(encoding="utf-8") if exclude.exists() else ""
    except (OSError, UnicodeDecodeError):
        return None
    if any(line.strip() in (EXCLUDE_LINE, STATE_DIR, "/" + STATE_DIR, "/" + EXCLUDE_LINE) for line in current.splitlines()):
        return None
    try:
        exclude.parent.mkdir(parents=True, exist_ok=True)
        with open(exclude, "a", encoding="utf-8") as f:
            f.write(("" if not current or current.endswith("\n") else "\n") + f"{EXCLUDE_NOTE}\n{EXCLUDE_LINE}\n")
    except OSError:
        return None
    return exclude


def conflict_path(root: Path, rel: str) -> Path:
    """A fresh place for a local copy set aside now: ``.collab/conflicts/<UTC time>[-n]/<rel>``."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    base = root / STATE_DIR / "conflicts"
    candidate = base / stamp / rel
    n = 1
    while candidate.exists() or candidate.is_symlink():
        n += 1
        candidate = base / f"{stamp}-{n}" / rel
    return candidate
