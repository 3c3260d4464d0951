"""Workspace schema 2: a file's identity is an id; its path is a property (docs/workspace.md).

    meta   Y.Map  {schema: 2}
    fs     Y.Map<file id, Y.Map{path, text: Y.Text, created_by, created_ts, trashed?}>
    files  (schema 1's root) holds only UPGRADE_NOTICE_PATH, for clients that predate schema 2

A rename or a move writes one property (``path``), so edits to the Y.Text, made at the same time
or offline, land in the same text whatever its name. The path everyone sees is computed, the same
way in every client (``resolve``): two live files that claim one path both stay, the greater id
under ``conflict_name``. A delete writes ``trashed`` = {by, ts, path, digest}; the file is in the
trash only while its path and text are still what the deleter saw, so a rename or an edit made
concurrently with the delete keeps the file (edits win over deletes). Nothing here does I/O.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import pycrdt

META = "meta"
SCHEMA_KEY = "schema"
SCHEMA = 2  # the schema this code reads and writes
FS = "fs"
LEGACY_FILES = "files"
UPGRADE_NOTICE_PATH = "COLLAB-UPGRADE-REQUIRED.txt"
UPGRADE_NOTICE = (
    "This room uses version 2 of the collab workspace schema: its files are no longer in this map.\n"
    "Upgrade collab (pip install -U collab) and reload the page to see and edit them.\n"
)

PATH = "path"
TEXT = "text"
CREATED_BY = "created_by"
CREATED_TS = "created_ts"
TRASHED = "trashed"

PathListener = Callable[[set[str]], None]


def new_file_id() -> str:
    return uuid.uuid4().hex


def migrated_file_id(path: str) -> str:
    """A schema-1 file's id: the same in every migrating client, so their copies are one entry."""
    return hashlib.sha256(b"collab-file:" + path.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def text_digest(text: str) -> str:
    """FNV-1a (32 bits) of the UTF-8 text, as 8 hex digits: web/src/workspace.ts computes the same."""
    h = 0x811C9DC5
    for byte in text.encode("utf-8", "surrogatepass"):
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return f"{h:08x}"


def conflict_name(path: str, tag: str) -> str:
    """``a/b.py`` -> ``a/b (conflict <tag>).py``; a name without an extension (or a dotfile) gets
    the tag at its end."""
    folder, slash, name = path.rpartition("/")
    dot = name.rfind(".")
    stem, ext = (name[:dot], name[dot:]) if dot > 0 else (name, "")
    return f"{folder}{slash}{stem} (conflict {tag}){ext}"


@dataclass(frozen=True, slots=True)
class TrashEntry:
    id: str
    path: str
    by: str
    ts: float


def _parts(entry: Any) -> tuple[str, pycrdt.Text] | None:
    """An entry's path and text, or None when it is not a file entry (any client can write anything)."""
    if not isinstance(entry, pycrdt.Map):
        return None
    path, text = entry.get(PATH), entry.get(TEXT)
    if not isinstance(path, str) or not path or not isinstance(text, pycrdt.Text):
        return None
    return path, text


def _trash_mark(entry: pycrdt.Map[Any]) -> dict[str, Any] | None:
    mark = entry.get(TRASHED)
    return mark if isinstance(mark, dict) else None


def in_trash(entry: pycrdt.Map[Any], path: str, text: pycrdt.Text) -> bool:
    """Deleted, and neither renamed nor edited since by anyone the deleter had not seen."""
    mark = _trash_mark(entry)
    return mark is not None and mark.get(PATH) == path and mark.get("digest") == text_digest(str(text))


def resolve(fs: pycrdt.Map[Any]) -> dict[str, str]:
    """Every live file's visible path -> id. Same-path files: the smallest id keeps the path, the
    others get ``conflict_name(path, id[:8])`` (the whole id if that is taken too); groups are
    taken in the order of their smallest id, so every client computes the same names."""
    claims: dict[str, list[str]] = {}
    for file_id, entry in fs.items():
        parts = _parts(entry)
        if parts is None or in_trash(entry, *parts):
            continue
        claims.setdefault(parts[0], []).append(file_id)
    groups = sorted(((sorted(ids), path) for path, ids in claims.items()))
    out = {path: ids[0] for ids, path in groups}
    for ids, path in groups:
        for file_id in ids[1:]:
            name = conflict_name(path, file_id[:8])
            if name in out:
                name = conflict_name(path, file_id)
            out[name] = file_id
    return out


class FileTable:
    """The ``fs`` root of one document, with its visible paths cached between changes."""

    def __init__(self, doc: pycrdt.Doc[Any]) -> None:
        self.doc = doc
        self.fs: pycrdt.Map[Any] = doc.get(FS, type=pycrdt.Map)
        self.meta: pycrdt.Map[Any] = doc.get(META, type=pycrdt.Map)
        self.legacy: pycrdt.Map[Any] = doc.get(LEGACY_FILES, type=pycrdt.Map)
        self._paths: dict[str, str] | None = None  # visible path -> id; None: to compute
        self._published: dict[str, str] = {}  # what the listeners were last told
        self._listeners: list[PathListener] = []
        self._closed = True
        self._subs: list[tuple[Any, pycrdt.Subscription]] = []
        self._open()

    def _open(self) -> None:
        if not self._closed:
            return
        self._closed = False
        self._paths = None
        self._subs = [
            (self.fs, self.fs.observe_deep(self._on_fs)),
            (self.meta, self.meta.observe(self._on_meta)),
            (self.legacy, self.legacy.observe_deep(self._on_legacy)),
        ]

    def schema(self) -> int:
        value = self.meta.get(SCHEMA_KEY)
        return int(value) if isinstance(value, (int, float)) and value >= 1 else 1

    # -- reading -----------------------------------------------------------------------------------

    def paths(self) -> dict[str, str]:
        if self._closed:
            return resolve(self.fs)
        if self._paths is None:
            self._paths = resolve(self.fs)
        return self._paths

    def entry(self, file_id: str) -> pycrdt.Map[Any] | None:
        value = self.fs.get(file_id)
        return value if _parts(value) is not None else None

    def text_of(self, file_id: str) -> pycrdt.Text | None:
        parts = _parts(self.fs.get(file_id))
        return None if parts is None else parts[1]

    def path_of(self, file_id: str) -> str | None:
        """Where a live file is now (its conflict name while it has one); None if trashed or gone."""
        for path, fid in self.paths().items():
            if fid == file_id:
                return path
        return None

    def trash(self) -> list[TrashEntry]:
        out = []
        for file_id, entry in self.fs.items():
            parts = _parts(entry)
            if parts is None or not in_trash(entry, *parts):
                continue
            mark = _trash_mark(entry) or {}
            out.append(TrashEntry(file_id, parts[0], str(mark.get("by", "")), float(mark.get("ts", 0.0))))
        return sorted(out, key=lambda e: (-e.ts, e.id))

    # -- writing (the caller holds the transaction) ------------------------------------------------

    def create(self, path: str, content: str, *, by: str) -> str:
        file_id = new_file_id()
        self.fs[file_id] = pycrdt.Map(
            {PATH: path, TEXT: pycrdt.Text(content), CREATED_BY: by, CREATED_TS: time.time()}
        )
        self._changed()
        return file_id

    def set_path(self, file_id: str, path: str) -> None:
        entry = self.entry(file_id)
        if entry is not None and entry.get(PATH) != path:
            entry[PATH] = path
            self._changed()

    def move_to_trash(self, file_id: str, *, by: str) -> None:
        entry = self.entry(file_id)
        parts = _parts(entry)
        if entry is None or parts is None:
            return
        entry[TRASHED] = {"by": by, "ts": time.time(), PATH: parts[0], "digest": text_digest(str(parts[1]))}
        self._changed()

    def restore(self, file_id: str) -> None:
        entry = self.entry(file_id)
        if entry is not None and TRASHED in entry:
            del entry[TRASHED]
            self._changed()

    def purge(self, file_id: str) -> None:
        if file_id in self.fs:
            del self.fs[file_id]
            self._changed()

    # -- observing ---------------------------------------------------------------------------------

    def listen(self, listener: PathListener) -> None:
        """``listener(paths)``: the visible paths whose file appeared, went, or changed its text
        (observing again after a ``close``)."""
        self._open()
        if not self._listeners:
            self._published = dict(self.paths()) if self.schema() >= SCHEMA else {}
        self._listeners.append(listener)

    def unlisten(self, listener: PathListener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def close(self) -> None:
        """Unobserve the document (idempotent). Reading stays right after it: with nothing to say
        when the cache is stale, the paths are computed on every read; ``listen`` observes again."""
        for root, sub in self._subs:
            root.unobserve(sub)
        self._subs = []
        self._listeners = []
        self._closed = True
        self._paths = None

    def _changed(self) -> None:
        self._paths = None

    def _tell(self, dirty: set[str]) -> None:
        if dirty:
            for listener in list(self._listeners):
                listener(dirty)

    def _republish(self, dirty: set[str]) -> None:
        """Recompute the visible paths; tell the listeners which ones map to another file now."""
        self._paths = None
        if not self._listeners:
            return
        now = dict(self.paths()) if self.schema() >= SCHEMA else {}
        before = self._published
        dirty |= {p for p in before.keys() | now.keys() if before.get(p) != now.get(p)}
        self._published = now
        self._tell(dirty)

    def _on_fs(self, events: list[Any]) -> None:
        by_id = {fid: path for path, fid in self._published.items()}
        dirty: set[str] = set()
        structural = False
        for event in events:
            where = list(getattr(event, "path", []))
            if isinstance(event, pycrdt.TextEvent) and len(where) == 2 and where[1] == TEXT:
                file_id = str(where[0])
                entry = self.fs.get(file_id)
                if isinstance(entry, pycrdt.Map) and TRASHED in entry:
                    structural = True  # an edit to a deleted file brings it back
                elif file_id in by_id:
                    dirty.add(by_id[file_id])
            else:
                structural = True
        if structural:
            self._republish(dirty)
        elif self.schema() >= SCHEMA:
            self._tell(dirty)

    def _on_meta(self, event: Any) -> None:
        self._republish(set())

    def _on_legacy(self, events: list[Any]) -> None:
        if self.schema() >= SCHEMA:
            return
        dirty: set[str] = set()
        for event in events:
            where = list(getattr(event, "path", []))
            if where:
                dirty.add(str(where[0]))
            elif isinstance(event, pycrdt.MapEvent):
                dirty.update(str(k) for k in getattr(event, "keys", {}))
        self._tell(dirty)


class PathView:
    """The workspace's files by visible path, as schema 1's ``files`` map was read (get, items, in,
    observe_deep): callers that only look files up by path work in both schemas."""

    def __init__(self, table: FileTable) -> None:
        self._table = table
        self._listeners: dict[int, tuple[pycrdt.Subscription, PathListener]] = {}

    def _v2(self) -> bool:
        return self._table.schema() >= SCHEMA

    def get(self, path: str, default: Any = None) -> Any:
        if not self._v2():
            return self._table.legacy.get(path, default)
        file_id = self._table.paths().get(path)
        text = None if file_id is None else self._table.text_of(file_id)
        return default if text is None else text

    def __getitem__(self, path: str) -> Any:
        value = self.get(path)
        if value is None:
            raise KeyError(path)
        return value

    def __contains__(self, path: object) -> bool:
        if not isinstance(path, str):
            return False
        if not self._v2():
            return path in self._table.legacy
        return path in self._table.paths()

    def keys(self) -> list[str]:
        return list(self._table.legacy.keys()) if not self._v2() else list(self._table.paths())

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.keys())

    def items(self) -> list[tuple[str, Any]]:
        if not self._v2():
            return list(self._table.legacy.items())
        out = []
        for path, file_id in self._table.paths().items():
            text = self._table.text_of(file_id)
            if text is not None:
                out.append((path, text))
        return out

    def observe_deep(self, callback: Callable[[list[Any]], None]) -> pycrdt.Subscription:
        """``callback(events)`` after each change, one event per visible path changed (its ``path``
        is ``[that path]``, as a deep event of schema 1's map had). Returns a pycrdt Subscription,
        as schema 1's map did, for ``unobserve`` (it holds a no-op observer of ``meta``)."""

        def listener(paths: set[str]) -> None:
            callback([PathEvent([p]) for p in sorted(paths)])

        self._table.listen(listener)
        handle = self._table.meta.observe(_ignore)
        self._listeners[id(handle)] = (handle, listener)
        return handle

    def unobserve(self, subscription: pycrdt.Subscription) -> None:
        handle, listener = self._listeners.pop(id(subscription), (None, None))
        if handle is not None and listener is not None:
            self._table.unlisten(listener)
            self._table.meta.unobserve(handle)


def _ignore(event: Any) -> None:
    pass


@dataclass(frozen=True, slots=True)
class PathEvent:
    path: list[str]
