"""What a folder mirror does about a file: pure decisions, no I/O.

Three inputs decide every case: the session's text of a path, what the folder holds there (text, a
file the mirror skips, or nothing), and the base (the text both last agreed on: its hash in
.collab/state.json at start, the text itself while running). The output is a list of actions that
``collab.client.mirror_io`` carries out on disk and in the session, so every rule about who wins,
what is merged and what is set aside can be read, and tested, here alone.

- :func:`reconcile`: the whole folder against the whole session when a mirror starts (a rejoin
  uploads offline edits, takes remote ones, merges or sets aside files changed on both sides).
- :func:`on_remote`: a path changed in the session while mirroring.
- :func:`on_local`: a path saved in the folder while mirroring.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Callable, Iterator, Mapping, Sequence

from collab.client.localfs import Skipped
from collab.client.merge import clean_merge, merge3

LocalText = str | Skipped | None  # what the folder holds at a path: text, a skipped file, nothing


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class _OnPath:
    path: str


@dataclass(frozen=True, slots=True)
class _WithText(_OnPath):
    text: str


class Adopt(_WithText):
    """Disk and session already hold this text: it becomes the base."""


class Write(_WithText):
    """Write the session's text to disk (atomically); it becomes the base."""


class SetAside(_OnPath):
    """Move the local copy under .collab/conflicts/ before the session's text is written."""


class DeleteInSession(_OnPath):
    """The local file is gone: delete the path from the session and forget its base."""


class Forget(_OnPath):
    """Forget the base: the path is no longer mirrored (the local file stays as it is)."""


class Refresh(_OnPath):
    """The disk is behind the session (a save merged with a remote edit): write it at the next flush."""


@dataclass(frozen=True, slots=True)
class Send(_WithText):
    """Edit the session's text into ``text``; the base becomes ``base`` (None: left as it is)."""

    base: str | None


@dataclass(frozen=True, slots=True)
class RenameInSession(_OnPath):
    """The local file ``old`` was renamed (or moved) to ``path`` on disk: rename it in the session,
    so its id, its text and every edit in flight to it stay one file; its base moves with it."""

    old: str


@dataclass(frozen=True, slots=True)
class MoveLocal(_OnPath):
    """The session renamed the file at ``old`` to ``path``: move the local file (one rename on disk,
    so it keeps its inode and any edit not yet sent); its base moves with it."""

    old: str


@dataclass(frozen=True, slots=True)
class RemoveLocal(_OnPath):
    """The session no longer has the path: forget its base and remove the local file (untouched here)."""

    note: str | None = None  # said once it is removed


@dataclass(frozen=True, slots=True)
class Skip(_OnPath):
    """The local file is one the mirror skips (binary, too big): the session's text is not written over it."""

    why: Skipped


@dataclass(frozen=True, slots=True)
class Note(_OnPath):
    """Tell the person; ``once``: only the first time this exact line comes up (or, with ``key``,
    the first time anything under that key does)."""

    message: str
    once: bool = True
    key: str | None = None


Action = (
    Adopt | Write | SetAside | Send | RemoveLocal | DeleteInSession | RenameInSession | MoveLocal | Forget | Skip
    | Refresh | Note
)


def reconcile(
    session: Mapping[str, str],
    folder: Mapping[str, str | Skipped],
    known: Mapping[str, Sequence[str]],
    *,
    base_text: Callable[[str], str | None] = lambda _digest: None,
    deletes: bool = False,
    not_written: Callable[[str], Note | None] = lambda _path: None,
    not_sent: Callable[[str], Note | None] = lambda _path: None,
) -> Iterator[tuple[str, list[Action]]]:
    """The start of a mirror, path by path: the session's files (sorted), then the folder's files the
    session lacks (sorted). ``known``: path -> the hashes the previous run's base may be (oldest
    first: a run killed between recording a base and writing the disk leaves two), only that
    folder's own room: the one the disk holds is the base, else the newest; ``base_text``: a base's text by hash, for three-way merges; ``deletes``: the
    previous run is known to be this room's, so a file it synced that the session lost was deleted
    there; ``not_written`` / ``not_sent``: the line that says why a session file is not written here
    / a local file is not sent (None: it is). Such a path is left alone on both sides: not written,
    moved or deleted here, not edited or deleted in the session. ``folder`` is read lazily, one path
    at a time, and only for paths that are mirrored, so a large folder is never held in memory twice."""
    moved = _moved_while_away(session, folder, known, not_written, not_sent) if deletes else {}
    olds = {old: new for new, (old, _) in moved.items()}
    for path in sorted(session):
        refused = not_written(path)
        if refused is not None:
            yield path, [refused]
            continue
        if path in olds:
            yield path, []  # renamed here while away: decided with its new path
            continue
        disk = folder.get(path)
        yield path, _start_session_file(path, session[path], disk, _base_of(known.get(path), disk), base_text)
    for path in sorted(folder.keys() - session.keys()):
        refused = not_sent(path)
        if refused is not None:
            yield path, [refused]
            continue
        disk = folder.get(path)
        if path in moved:
            old, base = moved[path]
            yield path, [RenameInSession(path, old), *_start_session_file(path, session[old], disk, base, base_text)]
            continue
        yield path, _start_local_file(path, disk, _base_of(known.get(path), disk), deletes)


def _moved_while_away(
    session: Mapping[str, str],
    folder: Mapping[str, str | Skipped],
    known: Mapping[str, Sequence[str]],
    not_written: Callable[[str], Note | None],
    not_sent: Callable[[str], Note | None],
) -> dict[str, tuple[str, str]]:
    """Files renamed or moved here while the mirror was stopped: a session file the last run synced
    is gone from the folder, and a local file the session lacks holds one of its bases. new path ->
    (old path, the base hash they share)."""
    gone = {p: known[p] for p in session if known.get(p) and p not in folder and not_written(p) is None}
    if not gone:
        return {}
    wanted = {digest for chain in gone.values() for digest in chain}
    appeared: dict[str, str] = {}
    for path in folder.keys() - session.keys():
        disk = folder.get(path) if not_sent(path) is None else None
        if isinstance(disk, str) and text_hash(disk) in wanted:
            appeared[path] = text_hash(disk)
    if not appeared:
        return {}
    found = set(appeared.values())
    claims = {p: next(d for d in reversed(chain) if d in found) for p, chain in gone.items() if found & set(chain)}
    return {new: (old, claims[old]) for old, new in renames(appeared, claims)}


def _base_of(candidates: Sequence[str] | None, disk: LocalText) -> str | None:
    if not candidates:
        return None
    if isinstance(disk, str):
        digest = text_hash(disk)
        if digest in candidates:
            return digest  # untouched here since the mirror's last action on it
    return candidates[-1]


def _start_session_file(
    path: str,
    content: str,
    disk: LocalText,
    known: str | None,
    base_text: Callable[[str], str | None],
) -> list[Action]:
    if isinstance(disk, Skipped):
        return [Skip(path, disk)]
    if disk == content:
        return [Adopt(path, content)]
    if disk is None:
        return [Write(path, content)]
    if known is not None and known == text_hash(content):
        # Edited here while the mirror was stopped, unchanged in the session: send the edit.
        return [Send(path, disk, base=disk)]
    if known is not None and known != text_hash(disk):
        base = base_text(known)
        merged = clean_merge(base, disk, content) if base is not None else None
        if merged is not None:
            note = f"{path}: merged your edits made while away with the session's (they changed different lines)"
            return [Send(path, merged, base=None), Note(path, note, once=False), Write(path, merged)]
    if known is None or known != text_hash(disk):
        # Changed on both sides, or a local file we never synced: keep it aside, take the session's.
        return [SetAside(path), Write(path, content)]
    # Untouched here since the last run: the session's newer text simply replaces it.
    return [Write(path, content)]


def _start_local_file(path: str, disk: LocalText, known: str | None, deletes: bool) -> list[Action]:
    if deletes and known is not None and isinstance(disk, str) and text_hash(disk) == known:
        # Synced by the last run, untouched here, gone from the session: deleted there while we were
        # away (uploading it would undo someone's delete).
        return [RemoveLocal(path, note=f"{path}: deleted in the session while you were away; removed here too")]
    if disk is None:
        return []
    if isinstance(disk, Skipped):
        return [Note(path, f"skipped {path}: {disk.reason}")]
    return [Send(path, disk, base=disk)]


def on_remote(path: str, *, session: str | None, disk: LocalText, base: str | None) -> list[Action]:
    """``path`` changed in the session (``session``: its text now, None once deleted there), and it
    is a path the mirror writes (the caller tells a refused one instead). A delete concerns only a
    path this run mirrored (it has a base)."""
    if session is None:
        return _removed_in_session(path, disk, base)
    if isinstance(disk, Skipped):
        return [Skip(path, disk)]
    if disk is None and base is not None:
        # Gone from disk since we last agreed, and the watcher has not said so yet: a rename or a
        # delete here that the local side settles (a rename takes this edit along; a delete of a
        # file edited meanwhile writes it back, edits win), so it is not written back here now.
        return []
    actions: list[Action] = []
    if isinstance(disk, str) and base is not None and disk != base:
        # A save we have not seen yet: merge it in first, as if it had arrived a moment earlier.
        session = disk if session == base else merge3(base, disk, session)
        actions.append(Send(path, session, base=disk))
        base = disk
    if disk == session:
        return [*actions, Adopt(path, session)]
    if disk is not None and base is None:
        actions.append(SetAside(path))  # a local file of the same name we never saw: keep it aside
    return [*actions, Write(path, session)]


def _removed_in_session(path: str, disk: LocalText, base: str | None) -> list[Action]:
    if base is None:
        return []
    if isinstance(disk, Skipped):
        return [Forget(path)]  # a file the mirror skips stays local, whatever the session does with that path
    if isinstance(disk, str) and disk != base:
        # Deleted there, edited here: nothing is lost, the edited file comes back to the session.
        note = f"{path} was deleted in the session but edited here: keeping your version"
        return [Note(path, note), Send(path, disk, base=disk)]
    return [RemoveLocal(path)]


def on_local(path: str, *, text: str, base: str | None, session: str | None) -> list[Action]:
    """``path`` holds ``text`` on disk now (``session``: the session's text, None if it has none)."""
    if text == base:
        return []  # our own write, or a save that changed nothing
    new = text
    if session is not None and base is not None and session != base:
        new = merge3(base, text, session)  # the save raced a remote edit: keep both
    actions: list[Action] = [Send(path, new, base=text)]
    if new != text:
        actions.append(Refresh(path))  # merged with a remote edit: the disk needs the merged text
    return actions


def renames(appeared: Mapping[str, str], gone: Mapping[str, str]) -> list[tuple[str, str]]:
    """Which files that ``appeared`` on disk (path -> text; paths new to the session) are files that
    are ``gone`` from disk (path -> base; still in the session) under a new name: a ``mv`` of a file
    or a folder, or an editor's rename. A pair holds the same text; among several files with that
    text (empty ``__init__.py`` files in a moved folder) the one whose path ends the same way wins
    (``src/a/__init__.py`` -> ``lib/a/__init__.py`` rather than ``lib/b/__init__.py``), then the
    first by name. Returns (old, new) pairs; each path is in one pair at most."""
    by_text: dict[str, list[str]] = {}
    for old in sorted(gone):
        by_text.setdefault(gone[old], []).append(old)
    pairs: list[tuple[str, str]] = []
    taken: set[str] = set()
    # The new paths with the longest match first, so a folder move pairs each file with its own.
    def best(new: str) -> int:
        return max((_same_end(new, o) for o in by_text.get(appeared[new], [])), default=0)

    wanted = sorted(appeared, key=lambda new: (-best(new), new))
    for new in wanted:
        olds = [o for o in by_text.get(appeared[new], []) if o not in taken]
        if not olds:
            continue
        old = min(olds, key=lambda o: (-_same_end(new, o), o))
        taken.add(old)
        pairs.append((old, new))
    return pairs


def _same_end(a: str, b: str) -> int:
    """How many trailing path segments ``a`` and ``b`` share."""
    x, y = a.split("/")[::-1], b.split("/")[::-1]
    n = 0
    while n < min(len(x), len(y)) and x[n] == y[n]:
        n += 1
    return n
