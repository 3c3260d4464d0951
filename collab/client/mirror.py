"""Two-way mirror between a session's workspace and a local folder that any editor can edit.

Local -> session: the folder is watched with ``watchfiles`` (inotify/FSEvents/ReadDirectoryChanges
through the Rust ``notify`` crate, batched and debounced; ``poll=True`` falls back to polling for
network file systems where change events do not arrive). Each batch is settled against the disk as
it is *now*, not against event kinds, so every editor save pattern (write in place, truncate+write,
temp+rename, vim's rename-to-backup) reduces to "this path now has this content" or "is gone".
A changed file becomes a minimal diff on its Y.Text.

Session -> local: remote transactions mark paths dirty; a flush writes them atomically (temp file +
rename).

No echo loops: ``base[path]`` is the text disk and session last agreed on. A file whose content equals
its base was written by us (or not changed) and is left alone; only a real difference travels.

Nothing of the person's is lost: a local file the mirror skips (binary, too big) is never written
over; a local copy that has to give way is set aside under a fresh name in .collab/conflicts/; a
folder that disappears stops the mirror instead of deleting every file from the session. The folder
remembers its room and each file's base hash in .collab/ (``folderstate``), so a rejoin uploads
offline edits, takes remote ones, and only sets aside files changed on both sides.

Layout: ``reconcile`` decides (pure: the session's text, the folder's, the base -> actions),
``mirror_io`` carries the actions out, and this module runs the loop: the watcher, the flusher, the
state saver, and the checks that stop the mirror when its folder goes away.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Coroutine, Iterable, Iterator, Mapping

import pycrdt
from watchfiles import awatch

from collab.client import folderstate, localfs
from collab.client import bases
from collab.client.folderstate import FolderLock, MirrorError
from collab.client.ignore import IgnoreRules
from collab.client.localfs import DEFAULT_MAX_BYTES, Skipped
from collab.client.mirror_io import MirrorIO
from collab.client.reconcile import (
    Action, DeleteInSession, Note, Send, Write, on_local, on_remote, reconcile, renames,
)
from collab.workspace import Workspace

if TYPE_CHECKING:
    from pycrdt._base import BaseEvent  # what observe_deep hands its callback (not exported)

Report = Callable[[str], None]

PROGRESS_EVERY = 200  # files between progress lines in a large initial sync
UPLOAD_BATCH_BYTES = 256 * 1024  # one transaction (one update frame) per this much uploaded text
DELETE_GRACE_S = 0.3  # a path gone from disk is re-checked after this, so save-by-rename is no delete
MASS_DELETE_GRACE_S = 1.5  # longer when most files vanish at once: an rm -rf of the folder still running
FLUSH_COALESCE_S = 0.03  # remote keystrokes arriving together are written to disk once
STATE_SAVE_S = 1.0  # the base hashes in .collab/state.json lag the mirror by at most this


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class _FolderTexts(Mapping[str, "str | Skipped"]):
    """The folder's files as ``reconcile`` reads them: each one read from disk when it is asked for."""

    def __init__(self, io: MirrorIO, paths: set[str]) -> None:
        self._io = io
        self._paths = paths

    def __getitem__(self, rel: str) -> str | Skipped:
        text = self._io.disk(rel) if rel in self._paths else None
        if text is None:
            raise KeyError(rel)
        return text

    def __contains__(self, rel: object) -> bool:
        return rel in self._paths

    def __iter__(self) -> Iterator[str]:
        return iter(self._paths)

    def __len__(self) -> int:
        return len(self._paths)


class Mirror:
    def __init__(
        self,
        workspace: Workspace,
        root: Path,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        report: Report = _stderr,
        poll: bool = False,
        debounce_ms: int = 200,
        room: str | None = None,
        allow_tool_config: bool = False,
        delivered: Callable[[], bool] | None = None,
        new_room: bool = False,
    ) -> None:
        self.workspace = workspace
        self.root = root
        self.max_bytes = max_bytes
        self.report = report
        self.poll = poll
        self.debounce_ms = debounce_ms
        self.room = room  # recorded in .collab/ so the folder is never mirrored into another room
        self.rules = IgnoreRules(root)
        self.io = MirrorIO(
            workspace, root, self.rules, max_bytes=max_bytes, report=report, refresh=self._mark_dirty,
            allow_tool_config=allow_tool_config,
        )
        self._dirty: set[str] = set()
        self._dirty_event = asyncio.Event()
        self._lock = asyncio.Lock()
        self._sub: pycrdt.Subscription | None = None
        self._folder_lock = FolderLock(root)
        self._known: dict[str, list[str]] = {}  # path -> the previous run's base candidates (same room)
        self._same_room = False  # the previous run's state is known to be this room's
        self._saved: bases.FolderState | None = None  # what state.json holds now
        self._bases = folderstate.BaseStore(root)
        self._delivered = delivered  # True when every edit of ours is on the hub (the provider's word)
        self._delivered_clock: int | None = None  # our clock when delivered() last said yes
        self._gone = False
        self._recorded_room: str | None = room
        self._halt = asyncio.Event()  # stops the watcher early when the folder is gone
        self._failure: BaseException | None = None  # why a background part stopped
        self._ids: dict[str, str] = {}  # path -> file id, as the folder holds the files (schema 2)
        # ``room`` was made just now from this folder (collab share): what .collab/ remembers of
        # another room is history, not a reason to refuse.
        self._new_room = new_room

    @property
    def base(self) -> Mapping[str, str]:
        """path -> the text disk and session last agreed on."""
        return self.io.base

    @property
    def disk_writes(self) -> int:
        return self.io.disk_writes

    # -- start -------------------------------------------------------------------------------------

    async def initial_sync(self) -> None:
        """Claim the folder, then reconcile it with the session file by file: what changed on one side
        only (since the last run's base) takes that side; a local copy changed on both sides, or never
        seen, is set aside under .collab/conflicts/ and the session's text is written. Local files the
        session lacks are uploaded. Progress goes to ``report``."""
        self.root.mkdir(parents=True, exist_ok=True)
        self._folder_lock.acquire()
        excluded = folderstate.exclude_from_git(self.root)
        if excluded is not None:
            self.report(f"{folderstate.STATE_DIR}/ (the mirror's state) is kept out of git status by a line in {excluded}")
        try:
            await self._reconcile()
        except BaseException:
            if self._sub is not None:
                self.workspace.files.unobserve(self._sub)
                self._sub = None
            self._let_go()  # a refused or failed start leaves the folder free
            raise

    async def _reconcile(self) -> None:
        previous = bases.load(self.root)
        if self._new_room and previous.room != self.room:
            previous = bases.FolderState(None, {}, previous.seq)  # a fresh room: every file is uploaded
        if self.room and previous.room and previous.room != self.room:
            raise MirrorError(
                f"{self.root} mirrors room {previous.room}, not {self.room}: join into an empty folder, "
                f"or remove {self.root / folderstate.STATE_DIR} first (its files are then uploaded into "
                f"room {self.room})"
            )
        self._same_room = bool(self.room) and previous.room == self.room
        if previous.room == self.room:
            # A base that needs an edit of ours the hub never got (killed offline) does not hold.
            state_vector = bases.decode_state_vector(self.workspace.doc.get_state())
            self._known = bases.candidates(previous, state_vector)
        self.io.known = self._known
        self.io.base.journal = bases.Journal(self.root, previous.seq)
        # A join that does not know its room keeps the room a previous one recorded.
        self._recorded_room = self.room or previous.room
        self.rules.load_gitignore("")
        # Observe first: remote edits made while we sync are flushed by run() afterwards.
        self._sub = self.workspace.files.observe_deep(self._on_remote)
        local = set(localfs.walk(self.root, self.rules))
        remote, not_text = self.io.session_files()
        for key in not_text:
            refused = self.io.not_written(key)
            if refused is not None:
                self.io.apply(refused)
        total = len(remote) + len(local - remote.keys())
        steps = reconcile(
            remote,
            _FolderTexts(self.io, local),
            self._known,
            base_text=self._bases.read,
            deletes=self._same_room,
            not_written=self.io.not_written,
            not_sent=self.io.not_sent,
        )
        await self._carry_out(steps, remote.keys(), total)
        self._ids = self._file_ids()
        self._known = {}
        self.io.known = {}
        self.save_state()

    async def _carry_out(self, steps: Iterator[tuple[str, list[Action]]], remote: Iterable[str], total: int) -> None:
        """Apply the start's decisions with progress lines; uploads travel in transactions of
        UPLOAD_BATCH_BYTES, and the loop yields often enough to keep the connection's pings answered."""
        remote = set(remote)
        done = 0
        batch_bytes = 0
        txn = contextlib.ExitStack()
        try:
            in_txn = False
            for path, actions in steps:
                for action in actions:
                    if isinstance(action, Send) and not in_txn:
                        txn.enter_context(self.io.local_edit())
                        in_txn = True
                    batch_bytes += self.io.apply(action)
                done += 1
                if total >= PROGRESS_EVERY and done % PROGRESS_EVERY == 0:
                    self.report(f"synced {done}/{total} files")
                if batch_bytes >= UPLOAD_BATCH_BYTES or (path in remote and done % 50 == 0):
                    txn.close()
                    in_txn = False
                    batch_bytes = 0
                    await asyncio.sleep(0)
        finally:
            txn.close()
        if total >= PROGRESS_EVERY:
            self.report(f"synced {done}/{total} files")

    # -- run ---------------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Mirror both ways until ``stop`` is set, then settle what is left and return."""
        flusher = self._background(self._flush_loop(stop))
        catch_up = self._background(self._rescan_once_watching())
        saver = self._background(self._save_loop())
        relay = self._background(self._relay_stop(stop))
        try:
            async for changes in awatch(
                self.root,
                stop_event=self._halt,
                watch_filter=self._watch_filter,
                debounce=self.debounce_ms,
                step=50,
                force_polling=self.poll or None,
                poll_delay_ms=300,
                recursive=True,
                rust_timeout=1000,
                yield_on_timeout=False,
            ):
                rels = {self._rel(path) for _, path in changes}
                await self.settle_local({r for r in rels if r})
        except MirrorError:
            raise
        except Exception:
            self._check_folder()  # a watcher failing because the folder went away: say so
            raise
        finally:
            catch_up.cancel()
            flusher.cancel()
            saver.cancel()
            relay.cancel()
            for task in (flusher, catch_up, saver, relay):
                with contextlib.suppress(asyncio.CancelledError, MirrorError, OSError):
                    await task  # a failure was recorded by _background_done and is raised below
            try:
                if not self._gone and self._failure is None:
                    # Edits saved in the last debounce window are on disk but not yet seen: look once more.
                    await self.rescan()
                    await self.flush()
                    self.save_state()
            finally:
                if self._sub is not None:
                    self.workspace.files.unobserve(self._sub)
                    self._sub = None
                self._let_go()
        if self._gone:
            self._check_folder()
        if self._failure is not None:
            raise self._failure

    def _let_go(self) -> None:
        if self.io.base.journal is not None:
            self.io.base.journal.close()
        self._folder_lock.release()

    def _background(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(work)
        task.add_done_callback(self._background_done)
        return task

    def _background_done(self, task: asyncio.Task[None]) -> None:
        """A background part failing (the flusher, on a full disk) stops the mirror now with its
        reason, instead of leaving the watcher running while remote edits silently stop arriving."""
        if task.cancelled() or task.exception() is None or self._failure is not None:
            return
        self._failure = task.exception()
        self._halt.set()

    def _check_folder(self) -> None:
        """Stop, deleting nothing from the session, once the folder itself was deleted or replaced
        (``rm -rf``, ``mv``): its files vanishing is then no edit anyone made."""
        if self._gone or not self.root.is_dir() or not self._folder_lock.held():
            self._gone = True
            raise MirrorError(
                f"the folder {self.root} (or its .collab/) was deleted or moved while mirroring: stopped, and nothing was "
                "deleted from the session (join again to get the files back)"
            )

    def save_state(self) -> None:
        """Record the room and every file's base in .collab/state.json (if it changed), then start
        the journal over: until the next time, the journal says what changed since."""
        if self._gone:
            return
        if self._delivered is not None and self.io.base.waiting() and self._delivered():
            # Only edits the provider has called delivered for a whole save interval count as on the
            # hub (a plaintext hub stores an update a moment after it is written to the socket).
            if self._delivered_clock is not None:
                self.io.base.delivered(self._delivered_clock)
            self._delivered_clock = self.io.clock()
        else:
            self._delivered_clock = None
        state = self.io.base.state(self._recorded_room)
        if state != self._saved:
            with contextlib.suppress(FileNotFoundError):  # the folder went away: _check_folder says so
                self._bases.keep_only(self.io.base.texts())
            bases.save(self.root, bases.dump(state))
            if self.io.base.journal is not None:
                self.io.base.journal.compacted()
            self._saved = state

    async def _relay_stop(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self._halt.set()

    async def _save_loop(self) -> None:
        while True:
            await asyncio.sleep(STATE_SAVE_S)
            async with self._lock:
                if not self.root.is_dir() or not self._folder_lock.held():
                    # Gone without a file event (a moved folder): stop rather than mirror into nothing.
                    self._gone = True
                    self._halt.set()
                    return
                self.save_state()

    async def _rescan_once_watching(self) -> None:
        """awatch gives no signal when its watcher is live, so a file saved between the initial sync
        and that moment would go unseen: look at the whole folder once the watcher has surely
        started (and once more, for slow filesystems)."""
        for delay in (0.5, 2.0):
            await asyncio.sleep(delay)
            await self.rescan()

    def _rel(self, path: str) -> str:
        rel = os.path.relpath(path, self.root).replace(os.sep, "/")
        return "" if rel == "." or rel.startswith("../") else rel

    def _watch_filter(self, _change: object, path: str) -> bool:
        rel = self._rel(path)
        if not rel:
            return False
        # A .gitignore'd path still counts: a shared file keeps syncing, a new one is said to stay here.
        return not self.rules.built_in(rel)

    # -- local -> session --------------------------------------------------------------------------

    async def settle_local(self, rels: Iterable[str]) -> None:
        """Bring the session in line with what these paths (files or folders) hold on disk now."""
        async with self._lock:
            missing: set[str] = set()
            present: list[str] = []
            for rel in sorted(rels):
                if rel.rsplit("/", 1)[-1] == ".gitignore":
                    folder = rel.rsplit("/", 1)[0] if "/" in rel else ""
                    self.rules.load_gitignore(folder)
                path = self.root / rel
                if path.is_dir() and not path.is_symlink():
                    # A folder appeared (mkdir -p, mv dir in, git checkout): take what is in it.
                    present.extend(localfs.walk(self.root, self.rules, rel))
                elif path.is_file():
                    present.append(rel)
                else:
                    missing.add(rel)
                    missing.update(p for p in self.base if p.startswith(rel + "/"))
            # A rename here waits out the delete grace with the deletes: an editor's safe save
            # (original -> backup name, new file written, backup removed) is no rename.
            moves = self._renamed_here(present)
            waiting = {new for _, new in moves}
            for rel in present:
                if rel not in waiting:
                    self._local_changed(rel)
            missing = {m for m in missing if m in self.base} | {old for old, _ in moves}
        if missing:
            # Files that look renamed are no delete: a folder moved waits only the short grace.
            olds = {old for old, _ in moves}
            mass = self._mass(len(missing - olds))
            await asyncio.sleep(MASS_DELETE_GRACE_S if mass else DELETE_GRACE_S)
            if not mass and self._mass(sum(p not in olds and not (self.root / p).exists() for p in list(self.base))):
                # The watcher split an rm -rf over batches (a loaded machine): judge by the disk now.
                await asyncio.sleep(MASS_DELETE_GRACE_S - DELETE_GRACE_S)
            async with self._lock:
                self._check_folder()
                self._rename(moves)
                if any(rel in self.base and not os.path.lexists(self.root / rel) for rel in missing):
                    # About to delete: the watcher may have split a folder move over batches, the
                    # new names not among this one's. Look for them on the whole disk first.
                    self._rename(self._renamed_here(self._new_on_disk()))
                for rel in sorted(missing):
                    if not (self.root / rel).exists() and rel in self.base:
                        session = self.io.session_text(rel)
                        if session is not None and session != self.base[rel]:
                            # Edited in the session since disk last had it: the edit wins over the delete.
                            self.io.apply(Note(rel, f"{rel} was deleted here but edited in the session meanwhile: "
                                                    "it is back, with that edit", once=False))
                            self.io.base.drop(rel)  # written anew, not over a file we wrote before
                            self.io.apply(Write(rel, session))
                            continue
                        self.io.apply(DeleteInSession(rel))
                    elif (self.root / rel).is_file():
                        self._local_changed(rel)

    def _renamed_here(self, present: list[str]) -> list[tuple[str, str]]:
        """Files new to the session that look like files gone from disk under a new name (``mv``, a
        folder moved, an editor's rename): (old, new) pairs, told apart by their text as it is now
        (the new file holds what the gone one last agreed on). ``_rename`` makes them renames in the
        session, not a delete and a create: the file keeps its id, and an edit someone makes to it
        at the same time (or made offline) stays in it."""
        new = [rel for rel in present if rel not in self.base and self.io.session_text(rel) is None]
        if not new:
            return []
        gone = {
            rel: text for rel, text in self.base.items()
            if not os.path.lexists(self.root / rel) and self.io.session_text(rel) is not None
        }
        if not gone:
            return []
        appeared: dict[str, str] = {}
        for rel in new:
            text = self.io.disk(rel) if self.io.not_sent(rel) is None else None
            if isinstance(text, str):
                appeared[rel] = text
        return renames(appeared, gone)

    def _new_on_disk(self) -> list[str]:
        """The local files the mirror has not synced and the session does not have (yet)."""
        return [rel for rel in localfs.walk(self.root, self.rules) if rel not in self.base and self.io.session_text(rel) is None]

    def _rename(self, pairs: list[tuple[str, str]]) -> None:
        """Carry out the renames that still hold after the grace (the old path still gone, the new
        file still there, the same text); a new file that is no rename after all is sent as new."""
        if not pairs:
            return
        held = [(old, rel) for old, rel in pairs
                if not os.path.lexists(self.root / old) and old in self.base and self.io.disk(rel) == self.base[old]]
        # One transaction for all (a folder moved is one change, as rename_folder makes it).
        done = self.io.rename_in_session(held)
        for old, rel in done:
            if old in self._ids:
                self._ids[rel] = self._ids.pop(old)
            self._mark_dirty(rel)  # a remote edit not yet written here goes to its new place
        renamed = {rel for _, rel in done}
        for _, rel in pairs:
            if rel not in renamed and (self.root / rel).is_file():
                self._local_changed(rel)

    def _mass(self, gone: int) -> bool:
        """Most files vanishing at once: an rm -rf of the folder may still be running."""
        return gone >= max(10, len(self.base) // 2)

    async def rescan(self) -> None:
        """Compare the whole folder with what we know (after a stop, or when events may be lost)."""
        on_disk = set(localfs.walk(self.root, self.rules))
        await self.settle_local(on_disk | set(self.base))

    def _local_changed(self, rel: str) -> None:
        if self.rules.built_in(rel):
            return
        text = self.io.read_local(rel)
        if text is None:
            return
        for action in on_local(rel, text=text, base=self.base.get(rel), session=self.io.session_text(rel)):
            self.io.apply(action)

    # -- session -> local --------------------------------------------------------------------------

    def _on_remote(self, events: list[BaseEvent]) -> None:
        if self.io.applying_local:
            return
        for event in events:
            path = getattr(event, "path", None)
            if path:
                self._mark_dirty(str(path[0]))
            elif isinstance(event, pycrdt.MapEvent):
                for key in getattr(event, "keys", {}):
                    self._mark_dirty(str(key))

    def _mark_dirty(self, rel: str) -> None:
        self._dirty.add(rel)
        self._dirty_event.set()

    async def _flush_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self._dirty_event.wait()
            await asyncio.sleep(FLUSH_COALESCE_S)
            await self.flush()

    async def flush(self) -> None:
        async with self._lock:
            if self._gone or not self._folder_lock.held():
                return  # never re-create a deleted folder; settle_local stops the mirror
            self._dirty_event.clear()
            dirty, self._dirty = self._dirty, set()
            # Taken with the dirty set: the ids as disk holds them vs. as the session has them now.
            before, self._ids = self._ids, self._file_ids()
            for old, new in self._moved(dirty, before):
                if self.io.move_local(old, new):
                    dirty.add(new)
            for i, rel in enumerate(sorted(dirty)):
                self._write_out(rel)
                if i % 50 == 49:
                    await asyncio.sleep(0)

    def _file_ids(self) -> dict[str, str]:
        """The session's visible path -> file id (schema 2; schema 1 has no ids, hence no renames)."""
        return dict(self.workspace.table.paths()) if self.workspace.schema >= 2 else {}

    def _moved(self, dirty: set[str], before: Mapping[str, str]) -> list[tuple[str, str]]:
        """(old, new) for each file written here whose id the session holds under another path now."""
        where = {file_id: path for path, file_id in self._ids.items()}
        moves = []
        for old in sorted(dirty):
            file_id = before.get(old)
            new = where.get(file_id) if file_id else None
            if new is not None and new != old and old in self.base:
                moves.append((old, new))
        return moves

    def _write_out(self, rel: str) -> None:
        refused = self.io.not_written(rel) if rel in self.workspace.files else None
        if refused is not None:
            actions: list[Action] = [refused]  # not even read here, and left as it is in the session
        else:
            session = self.io.session_text(rel)
            disk = self.io.disk(rel) if session is not None or rel in self.base else None
            actions = on_remote(rel, session=session, disk=disk, base=self.base.get(rel))
        for action in actions:
            self.io.apply(action)
