"""Carrying out a folder mirror's decisions (``collab.client.reconcile``) on disk and in the session.

``MirrorIO`` holds what both sides last agreed on (``base``: path -> text), edits the session's
texts, writes, moves and removes local files, and tells the person what it skipped, each thing once.
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path
from typing import Callable, Iterator, Mapping, Sequence

from collab.client import folderstate, localfs, safe_paths
from collab.client.bases import BaseBook, decode_state_vector
from collab.client.ignore import IgnoreRules
from collab.client.localfs import Skipped
from collab.client.reconcile import (
    Action,
    Adopt,
    DeleteInSession,
    Forget,
    LocalText,
    MoveLocal,
    Note,
    Refresh,
    RemoveLocal,
    RenameInSession,
    Send,
    SetAside,
    Skip,
    Write,
)
from collab.workspace import Workspace, WorkspaceError

import pycrdt

Report = Callable[[str], None]

# A write that fails with one of these concerns that path only (a file/folder clash, a name this file
# system refuses, permissions): it is skipped with one line and everything else keeps syncing. Any
# other failure (disk full, read-only file system) stops the mirror with its reason.
PER_PATH_ERRNOS = frozenset(
    {errno.EEXIST, errno.ENOTDIR, errno.EISDIR, errno.EACCES, errno.EPERM, errno.ENAMETOOLONG, errno.EILSEQ,
     errno.EINVAL, errno.ELOOP, errno.ENOTEMPTY}
)


class MirrorIO:
    def __init__(
        self,
        workspace: Workspace,
        root: Path,
        rules: IgnoreRules,
        *,
        max_bytes: int,
        report: Report,
        refresh: Callable[[str], None],
        allow_tool_config: bool = False,
    ) -> None:
        self.workspace = workspace
        self.root = root
        self.rules = rules
        self.max_bytes = max_bytes
        self.report = report
        self._refresh = refresh  # a path whose disk copy must be written at the next flush
        self.allow_tool_config = allow_tool_config  # editor/tool config is mirrored too (safe_paths)
        self.base = BaseBook(workspace.doc.client_id)  # path -> the text disk and session last agreed on
        self._own: dict[str, int] = {}  # path -> the clock the hub must reach for our last edit of it
        self._txn_need: int | None = None  # that clock for the transaction now open
        self.disk_writes = 0  # files written or removed because of remote changes (for tests, stats)
        self._told: set[tuple[str, str]] = set()  # (path, message) already said once
        self._local_depth = 0
        self._blocked: set[str] = set()  # not written for what else is on disk: retried once something goes
        self._held: set[str] = set()  # a local copy that could not be set aside: never written over
        self.known: Mapping[str, Sequence[str]] = {}  # path -> the previous run's base hashes, while starting

    # -- reading -----------------------------------------------------------------------------------

    @property
    def applying_local(self) -> bool:
        """Inside our own edit of the session: its changes are not to be written back to disk."""
        return self._local_depth > 0

    def disk(self, rel: str) -> LocalText:
        return localfs.read_text(self.root / rel, self.max_bytes)

    def clock(self) -> int:
        """Our own Yjs clock: the hub has every edit of ours once its state vector reaches it."""
        return decode_state_vector(self.workspace.doc.get_state()).get(self.workspace.doc.client_id, 0)

    def session_text(self, rel: str) -> str | None:
        """The session's text of ``rel``; None when it has none (or something that is not text)."""
        value = self.workspace.files.get(rel)
        return str(value) if isinstance(value, pycrdt.Text) else None

    def session_files(self) -> tuple[dict[str, str], list[str]]:
        """Every text file of the session, and the keys holding something else, in one transaction."""
        texts: dict[str, str] = {}
        other: list[str] = []
        with self.workspace.doc.transaction():
            for key, value in self.workspace.files.items():
                if isinstance(value, pycrdt.Text):
                    texts[key] = str(value)
                else:
                    other.append(key)
        return texts, sorted(other)

    def _not_text(self, rel: str) -> Note | None:
        """Any participant can put any value under a key of ``files``: one that is no Y.Text is no file."""
        if rel not in self.workspace.files:
            return None
        value = self.workspace.files.get(rel)
        if isinstance(value, pycrdt.Text):
            return None
        kind = type(value).__name__
        return Note(rel, f"skipped {rel}: the session holds a {kind} there, not the text of a file; it stays as it is")

    def not_written(self, rel: str) -> Note | None:
        """Why the session's ``rel`` is not written here, as the line to tell (None: it is written).
        A path the rule refuses is told once for its whole folder and stays in the session as it is."""
        refused = safe_paths.refusal(rel, allow_tool_config=self.allow_tool_config)
        if refused is not None:
            return Note(refused.prefix, refused.message(rel))
        odd = self._not_text(rel)
        if odd is not None:
            return odd
        if self.rules.built_in(rel):
            return Note(rel, f"not written: {rel} is ignored here (a build/VCS folder or an editor's file)")
        if not self.shared(rel) and self.rules.gitignore_of(rel) is not None and (self.root / rel).is_file():
            # Your own file that your .gitignore keeps private (a .env): never written over, nor sent.
            return Note(rel, f"not written: {rel} is ignored here by .gitignore and you have your own; yours stays "
                             "as it is, and is not sent")
        why = localfs.escape(self.root, rel, allow_tool_config=self.allow_tool_config)
        if why is not None:
            return Note(rel, f"not written: {why}")
        return None

    def not_sent(self, rel: str) -> Note | None:
        """Why the local file ``rel`` is not sent to the session (None: it is). The mirror moves no
        path the rule refuses, either way: a teammate's mirror would not write it anyway."""
        refused = safe_paths.refusal(rel, allow_tool_config=self.allow_tool_config)
        if refused is None:
            return self._not_text(rel) or self._kept_private(rel)
        if refused.kind == "unsafe":
            return Note(refused.prefix, f"skipped: {refused.reason}")
        shown = rel if rel == refused.prefix else refused.prefix + "/"
        return Note(
            refused.prefix,
            f"not shared: {shown}: {refused.reason}, which could run code on a teammate's machine"
            + (" (--allow-tool-config shares it)" if refused.kind == "tool" else ""),
        )

    def shared(self, rel: str) -> bool:
        """Disk and session agreed on ``rel`` in this run or the previous one: it syncs whatever a
        .gitignore says now (a pushed ``*`` must not silently stop anyone's sync)."""
        return rel in self.base or rel in self.known

    def _kept_private(self, rel: str) -> Note | None:
        """A new local file a .gitignore matches stays on this machine: said once per .gitignore version."""
        if self.shared(rel):
            return None
        folder = self.rules.gitignore_of(rel)
        if folder is None:
            return None
        source = f"{folder}/.gitignore" if folder else ".gitignore"
        return Note(
            rel,
            f"not shared: {rel} and any other new file that {source} matches stay on this machine (files already "
            "shared keep syncing); edit that .gitignore if that is not what you want",
            key=f"{source}#{self.rules.versions.get(folder, 0)}",
        )

    def read_local(self, rel: str) -> str | None:
        """The text of a local file to send to the session; None (said once) when it is not sent."""
        refused = self.not_sent(rel)
        if refused is not None:
            self.apply(refused)
            return None
        text = self.disk(rel)
        if isinstance(text, Skipped):
            self.tell(rel, f"skipped {rel}: {text.reason}")
            return None
        return text

    # -- acting ------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def local_edit(self) -> Iterator[None]:
        """One transaction whose changes the remote observer must not write back to disk. The flag
        spans the whole transaction: observers run when the outermost one commits."""
        self._local_depth += 1
        try:
            with self.workspace.doc.transaction():
                yield
        finally:
            self._local_depth -= 1
            if not self._local_depth:
                self._txn_need = None

    def apply(self, action: Action) -> int:
        """Carry out one action; return the bytes of text it sent to the session."""
        if isinstance(action, Send):
            with self.local_edit():
                if self.session_text(action.path) != action.text:
                    if self._txn_need is None:
                        # One transaction is one update, on the hub whole or not at all: it is there
                        # once the hub's clock for us passes where it started (one state-vector
                        # decode per transaction: ~10 ms in a room that saw 1,000 clients).
                        self._txn_need = self.clock() + 1
                    self.workspace.write(action.path, action.text)
                    self._own[action.path] = self._txn_need
                if action.base is not None:
                    # Journaled inside the transaction: before the edit exists, so before it can be sent.
                    self.base.agree(action.path, action.base, self._own.get(action.path, 0))
            return len(action.text) + 1
        if isinstance(action, Adopt):
            self.base.agree(action.path, action.text, self._own.get(action.path, 0))
        elif isinstance(action, Write):
            self._write(action.path, action.text)
        elif isinstance(action, SetAside):
            self._set_aside(action.path)
        elif isinstance(action, RemoveLocal):
            self._remove(action)
        elif isinstance(action, DeleteInSession):
            if self.session_text(action.path) is not None:  # what is not text there stays as it is
                with self.local_edit():
                    self.workspace.delete(action.path)
            self.base.drop(action.path)
            self._removed()
        elif isinstance(action, RenameInSession):
            self.rename_in_session([(action.old, action.path)])
        elif isinstance(action, MoveLocal):
            self.move_local(action.old, action.path)
        elif isinstance(action, Forget):
            self.base.drop(action.path)
        elif isinstance(action, Skip):
            self.tell(
                action.path,
                f"not written: {action.path} here is skipped ({action.why.reason}), so the session's version of "
                "it is not written over it; your file stays as it is",
            )
        elif isinstance(action, Refresh):
            self._refresh(action.path)
        elif isinstance(action, Note):
            if action.key is not None:
                self._tell_key(action.key, action.message)
            elif action.once:
                self.tell(action.path, action.message)
            else:
                self.report(action.message)
        return 0

    def rename_in_session(self, moves: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """Files at ``old`` are at ``new`` on disk now: one write of each one's path in the session,
        in one transaction (their texts, and edits to them in flight, stay). Returns the renames
        made; one the session cannot take (``old`` gone there, ``new`` taken) is left out, and the
        caller sends that file as a new one."""
        moves = [(old, new) for old, new in moves if self.session_text(old) is not None and self.session_text(new) is None]
        if not moves:
            return []
        with self.local_edit():
            if self._txn_need is None:
                self._txn_need = self.clock() + 1
            try:
                done = self.workspace.rename_many(moves)
            except WorkspaceError:
                return []
            for old, new in done:
                self._own.pop(old, None)
                self._own[new] = self._txn_need
                # Journaled inside the transaction, as a Send's base is: before the rename can be
                # sent. (At the start there is no base yet: the actions after the rename agree on one.)
                self.base.move(old, new, self._txn_need)
        return done

    def move_local(self, old: str, new: str) -> bool:
        """The session renamed ``old`` to ``new``: rename the local file (an edit made to it here and
        not yet seen goes with it, and is merged when ``new`` is written). False when it cannot be
        moved as it is (``new`` is not written here, something is there already, ``old`` is no
        text file): the caller writes ``new`` and removes ``old`` instead."""
        if old not in self.base or new in self.base or self.not_written(new) is not None:
            return False
        if not isinstance(self.disk(old), str) or localfs.blocker(self.root, new) is not None:
            return False
        need = self._own.get(old, 0)
        text = self.base[old]
        digest = self.base.expect(new, text, need)  # journaled before the disk holds it
        try:
            localfs.move(self.root, old, new, allow_tool_config=self.allow_tool_config)
        except OSError as exc:
            if not isinstance(exc, safe_paths.UnsafePath) and exc.errno not in PER_PATH_ERRNOS | {errno.ENOENT}:
                raise
            return False
        self.base.settle_base(new, text, need, digest)
        self.base.drop(old)
        if need:
            self._own[new] = self._own.pop(old)
        self.disk_writes += 1
        self._removed()
        return True

    def _write(self, rel: str, content: str) -> None:
        if rel in self._held:
            return  # its local copy could not be set aside (said so): it is not written over
        need = self._own.get(rel, 0)
        digest = self.base.expect(rel, content, need)  # journaled before the disk holds it
        try:
            # A file we wrote before is written only over itself: renamed or deleted here since
            # (the watcher has not said so yet), it is the local side's to settle.
            localfs.atomic_write(self.root, rel, content, allow_tool_config=self.allow_tool_config,
                                 existing=rel in self.base)
        except FileNotFoundError:
            if rel in self.base:
                return
            raise
        except OSError as exc:
            self._cannot(rel, exc, "written")
            return
        self._blocked.discard(rel)
        self.base.settle_base(rel, content, need, digest)
        self.disk_writes += 1

    def _cannot(self, rel: str, exc: OSError, what: str) -> None:
        """One line for a path that failed on its own; re-raise a failure of the whole folder."""
        if isinstance(exc, safe_paths.UnsafePath):
            self.tell(rel, f"not {what}: {exc}")
            return
        if exc.errno not in PER_PATH_ERRNOS:
            raise exc
        clash = localfs.blocker(self.root, rel)
        if clash is not None:
            self._blocked.add(rel)
            self.tell(rel, f"skipped {rel}: {clash}; it stays in the session, and is written once that is resolved")
        else:
            self.tell(rel, f"not {what}: {rel}: {exc.strerror or exc}")

    def _removed(self) -> None:
        """A file or folder went from disk: what it blocked may fit now."""
        for rel in sorted(self._blocked):
            self._refresh(rel)

    def _remove(self, action: RemoveLocal) -> None:
        try:
            localfs.remove(self.root, action.path, allow_tool_config=self.allow_tool_config)
        except OSError as exc:
            self.base.drop(action.path)
            self._cannot(action.path, exc, "removed")
            return
        self.base.drop(action.path)
        self.disk_writes += 1
        self._removed()
        if action.note is not None:
            self.report(action.note)
        else:
            self._tell_trashed(action.path)

    def _tell_trashed(self, rel: str) -> None:
        """A file someone moved to the session's trash went from here too: say who, and where it is."""
        for entry in self.workspace.trash():
            if entry.path == rel:
                self.report(f"{rel}: moved to the session's trash by {entry.by or 'someone'}; removed here "
                            "(anyone can restore it from the page's Trash, and it comes back here)")
                return

    def _set_aside(self, rel: str) -> None:
        dst = folderstate.conflict_path(self.root, rel)
        try:
            src = localfs.inside(self.root, rel, allow_tool_config=self.allow_tool_config)
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dst)
        except OSError as exc:
            if not isinstance(exc, safe_paths.UnsafePath) and exc.errno not in PER_PATH_ERRNOS:
                raise
            self._held.add(rel)
            self.tell(rel, f"could not keep the local copy of {rel} ({exc}), so the session's version is not written over it")
            return
        self._held.discard(rel)
        shown = dst.relative_to(self.root).as_posix()
        self.report(f"{rel}: the session's version differs; your copy is kept in {shown}")

    def _tell_key(self, key: str, message: str) -> None:
        if (key, "") not in self._told:
            self._told.add((key, ""))
            self.report(message)

    def tell(self, rel: str, message: str) -> None:
        if (rel, message) not in self._told:
            self._told.add((rel, message))
            self.report(message)
