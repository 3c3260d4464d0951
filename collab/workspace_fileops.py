"""The file half of :class:`collab.workspace.Workspace`, in both schemas.

A schema-1 room (``files: Y.Map<path, Y.Text>``, what releases before schema 2 wrote) is read and
written as before, until a client migrates it (``migrate``); a schema-2 room through
:class:`collab.workspace_files.FileTable`. A room of a later schema is refused: this code would
not know what it breaks.
"""

from __future__ import annotations

import time
from typing import Any

import pycrdt

from collab import workspace_migrate
from collab.text_diff import apply_text
from collab.workspace_errors import PathError, WorkspaceError, validate_path
from collab.workspace_files import SCHEMA, FileTable, PathView, TrashEntry

TRASH_DAYS = "trash_days"  # settings: files in the trash longer than this go for good (unset: never)


class FileOps:
    doc: pycrdt.Doc[Any]
    origin: str | None
    user: str

    def _init_files(self) -> None:
        self.table = FileTable(self.doc)
        # Path-keyed, like schema 1's root: callers that read files by path need no schema check.
        self.files = PathView(self.table)

    def transaction(self) -> pycrdt.Transaction:
        """One transaction with this workspace's origin (nested ones join the current one)."""
        return self.doc.transaction(origin=self.origin)

    @property
    def schema(self) -> int:
        return self.table.schema()

    def migrate(self) -> bool:
        """Bring a schema-1 room to schema 2 in place (docs/workspace.md); False if it was already."""
        self._check_schema()
        with self.transaction():
            return workspace_migrate.migrate(self.doc, self.table)

    def _v2(self) -> bool:
        return self._check_schema() >= SCHEMA

    def _check_schema(self) -> int:
        schema = self.table.schema()
        if schema > SCHEMA:
            raise WorkspaceError(
                f"this room uses workspace schema {schema}; this collab reads schema {SCHEMA}: upgrade collab"
            )
        return schema

    # -- reading -----------------------------------------------------------------------------------

    def paths(self) -> list[str]:
        self._check_schema()
        return sorted(self.files.keys())

    def __contains__(self, path: str) -> bool:
        return path in self.files

    def text(self, path: str) -> pycrdt.Text:
        """The live Y.Text of a file (for sticky indices and observers)."""
        self._check_schema()
        value = self.files.get(path)
        if not isinstance(value, pycrdt.Text):
            raise WorkspaceError(f"no file {path!r} in the workspace")
        return value

    def read(self, path: str) -> str:
        return str(self.text(path))

    def snapshot(self) -> dict[str, str]:
        """Every file's content, read in one transaction (a consistent view)."""
        self._check_schema()
        with self.doc.transaction():
            return {p: str(t) for p, t in self.files.items() if isinstance(t, pycrdt.Text)}

    def file_id(self, path: str) -> str | None:
        """The stable id of the file at ``path`` (schema 2; None in schema 1 or when there is none)."""
        return self.table.paths().get(path) if self._v2() else None

    def path_of(self, file_id: str) -> str | None:
        """Where the file ``file_id`` is now; None when it is in the trash or gone."""
        return self.table.path_of(file_id) if self._v2() else None

    def trash(self) -> list[TrashEntry]:
        """Deleted files, newest first (schema 1 has no trash)."""
        return self.table.trash() if self._v2() else []

    # -- writing -----------------------------------------------------------------------------------

    def write(self, path: str, content: str) -> int:
        """Create the file, or edit it into ``content`` with a minimal diff; return the edit steps."""
        validate_path(path)
        with self.transaction():
            current = self.files.get(path)
            if isinstance(current, pycrdt.Text):
                return apply_text(current, content)
            if self._v2():
                self.table.create(path, content, by=self.user)
            else:
                self.table.legacy[path] = pycrdt.Text(content)
            return 1

    def create(self, path: str, content: str = "") -> str:
        """A new file (WorkspaceError if ``path`` is taken); returns its id (its path in schema 1)."""
        validate_path(path)
        with self.transaction():
            if path in self.files:
                raise WorkspaceError(f"{path} already exists")
            if self._v2():
                return self.table.create(path, content, by=self.user)
            self.table.legacy[path] = pycrdt.Text(content)
            return path

    def delete(self, path: str) -> str | None:
        """Schema 2: move the file to the trash and return its id (``restore(id)`` undoes it).
        Schema 1: delete it, returning the path. None when there is no such file."""
        with self.transaction():
            if self._v2():
                file_id = self.table.paths().get(path)
                if file_id is None:
                    return None
                self.table.move_to_trash(file_id, by=self.user)
                return file_id
            if path in self.table.legacy:
                del self.table.legacy[path]
                return path
        return None

    def rename(self, old: str, new: str) -> None:
        """Schema 2: one write of the file's path; its text, edits in flight included, stays.
        WorkspaceError when ``new`` is another file's. Schema 1 (no move in a Y.Map): a new Y.Text
        with the content at ``new``, replacing what was there."""
        validate_path(new)
        with self.transaction():
            if not self._v2():
                content = self.read(old)
                del self.table.legacy[old]
                self.table.legacy[new] = pycrdt.Text(content)
                return
            file_id = self.table.paths().get(old)
            if file_id is None:
                raise WorkspaceError(f"no file {old!r} in the workspace")
            if old == new:
                return
            if new in self.files:
                raise WorkspaceError(f"{new} already exists")
            self.table.set_path(file_id, new)

    def rename_many(self, moves: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """Schema 2: several renames in one transaction, the visible paths resolved once (a folder
        moved on disk is one batch of these). A move whose file is gone, or whose target is taken
        (by a file that stays, or by an earlier move of the batch), is left out; returns those made."""
        with self.transaction():
            if not self._v2():
                raise WorkspaceError("renames keep the file in schema 2 only: migrate the room first")
            paths = dict(self.table.paths())
            leaving = {old for old, _ in moves if old in paths}
            done: list[tuple[str, str]] = []
            taken: set[str] = set()
            for old, target in moves:
                validate_path(target)
                file_id = paths.get(old)
                if file_id is None or target in taken or (target in paths and target not in leaving) or old == target:
                    continue
                taken.add(target)
                done.append((old, target))
            for old, target in done:
                self.table.set_path(paths[old], target)
            return done

    def rename_folder(self, old: str, new: str) -> list[str]:
        """Move every file under folder ``old`` to folder ``new`` (schema 2); returns their new paths."""
        old, new = old.strip("/"), new.strip("/")
        with self.transaction():
            if not self._v2():
                raise WorkspaceError("folders are renamed in schema 2 only: migrate the room first")
            moves = {
                path: new + path[len(old):] for path in self.table.paths() if path.startswith(old + "/")
            }
            for target in moves.values():
                validate_path(target)
                if target in self.files and target not in moves:
                    raise WorkspaceError(f"{target} already exists")
            ids = {path: self.table.paths()[path] for path in moves}
            for path, target in moves.items():
                self.table.set_path(ids[path], target)
            return sorted(moves.values())

    def restore(self, file_id: str, path: str | None = None) -> str:
        """Take a file out of the trash (to ``path`` if given); returns where it is now (a conflict
        name when its path was taken meanwhile)."""
        if path is not None:
            validate_path(path)
        with self.transaction():
            if not self._v2() or self.table.entry(file_id) is None:
                raise WorkspaceError(f"no file {file_id!r} in the trash")
            if path is not None:
                self.table.set_path(file_id, path)
            self.table.restore(file_id)
            where = self.table.path_of(file_id)
            if where is None:
                raise WorkspaceError(f"file {file_id!r} could not be restored")
            return where

    def expire_trash(self, now: float | None = None) -> int:
        """Empty what has been in the trash longer than the room's ``settings.trash_days``; returns
        how many went (none while the setting is unset)."""
        days = self.doc.get("settings", type=pycrdt.Map).get(TRASH_DAYS)
        if not self._v2() or not isinstance(days, (int, float)) or isinstance(days, bool) or days <= 0:
            return 0
        cutoff = (time.time() if now is None else now) - days * 86400
        return self.empty_trash([e.id for e in self.trash() if e.ts < cutoff])

    def empty_trash(self, file_ids: list[str] | None = None) -> int:
        """Delete for good the files in the trash (those of ``file_ids``, or all); returns how many."""
        with self.transaction():
            doomed = [e.id for e in self.trash() if file_ids is None or e.id in file_ids]
            for file_id in doomed:
                self.table.purge(file_id)
            return len(doomed)


__all__ = ["FileOps", "PathError", "TrashEntry"]
