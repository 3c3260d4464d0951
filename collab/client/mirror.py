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
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from pathlib import Path
from typing import Callable, Iterable

import pycrdt
from watchfiles import awatch

from collab.client import folderstate, localfs
from collab.client.folderstate import FolderLock, MirrorError, text_hash
from collab.client.ignore import IgnoreRules
from collab.client.localfs import DEFAULT_MAX_BYTES, Skipped
from collab.client.merge import clean_merge, merge3
from collab.workspace import PathError, Workspace, validate_path

Report = Callable[[str], None]

PROGRESS_EVERY = 200  # files between progress lines in a large initial sync
UPLOAD_BATCH_BYTES = 256 * 1024  # one transaction (one update frame) per this much uploaded text
DELETE_GRACE_S = 0.3  # a path gone from disk is re-checked after this, so save-by-rename is no delete
MASS_DELETE_GRACE_S = 1.5  # longer when most files vanish at once: an rm -rf of the folder still running
FLUSH_COALESCE_S = 0.03  # remote keystrokes arriving together are written to disk once
STATE_SAVE_S = 1.0  # the base hashes in .collab/state.json lag the mirror by at most this


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


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
    ) -> None:
        self.workspace = workspace
        self.root = root
        self.max_bytes = max_bytes
        self.report = report
        self.poll = poll
        self.debounce_ms = debounce_ms
        self.room = room  # recorded in .collab/ so the folder is never mirrored into another room
        self.rules = IgnoreRules(root)
        self.base: dict[str, str] = {}
        self.disk_writes = 0  # files written or removed because of remote changes (for tests, stats)
        self._dirty: set[str] = set()
        self._dirty_event = asyncio.Event()
        self._lock = asyncio.Lock()
        self._applying_local = False
        self._told: set[tuple[str, str]] = set()  # (path, reason) already reported once
        self._sub: pycrdt.Subscription | None = None
        self._folder_lock = FolderLock(root)
        self._known: dict[str, str] = {}  # path -> base hash saved by the previous run (same room)
        self._same_room = False  # the previous run's state is known to be this room's
        self._saved: folderstate.FolderState | None = None  # what state.json holds now
        self._hashes: dict[str, tuple[str, str]] = {}  # path -> (base text, its hash): hash each text once
        self._bases = folderstate.BaseStore(root)
        self._gone = False
        self._recorded_room: str | None = room
        self._halt = asyncio.Event()  # stops the watcher early when the folder is gone

    # -- start -------------------------------------------------------------------------------------

    async def initial_sync(self) -> None:
        """Claim the folder, then reconcile it with the session file by file: what changed on one side
        only (since the last run's base) takes that side; a local copy changed on both sides, or never
        seen, is set aside under .collab/conflicts/ and the session's text is written. Local files the
        session lacks are uploaded. Progress goes to ``report``."""
        self.root.mkdir(parents=True, exist_ok=True)
        self._folder_lock.acquire()
        try:
            await self._reconcile()
        except BaseException:
            if self._sub is not None:
                self.workspace.files.unobserve(self._sub)
                self._sub = None
            self._folder_lock.release()  # a refused or failed start leaves the folder free
            raise

    async def _reconcile(self) -> None:
        previous = folderstate.load(self.root)
        if self.room and previous.room and previous.room != self.room:
            raise MirrorError(
                f"{self.root} mirrors room {previous.room}, not {self.room}: join into an empty folder, "
                f"or remove {self.root / folderstate.STATE_DIR} first (its files are then uploaded into "
                f"room {self.room})"
            )
        self._same_room = bool(self.room) and previous.room == self.room
        if previous.room == self.room:
            self._known = previous.bases
        # A join that does not know its room keeps the room a previous one recorded.
        self._recorded_room = self.room or previous.room
        self.rules.load_gitignore("")
        # Observe first: remote edits made while we sync are flushed by run() afterwards.
        self._sub = self.workspace.files.observe_deep(self._on_remote)
        local = set(localfs.walk(self.root, self.rules))
        remote = self.workspace.snapshot()
        uploads = sorted(local - remote.keys())
        total = len(remote) + len(uploads)
        done = 0

        def progress(force: bool = False) -> None:
            if total >= PROGRESS_EVERY and (force or done % PROGRESS_EVERY == 0):
                self.report(f"synced {done}/{total} files")

        for rel, content in sorted(remote.items()):
            self._write_out_initial(rel, content)
            done += 1
            progress()
            if done % 50 == 0:
                await asyncio.sleep(0)  # keep the connection's pings answered
        del remote
        batch_bytes = 0
        txn: contextlib.ExitStack = contextlib.ExitStack()
        try:
            for rel in uploads:
                if self._deleted_while_away(rel):
                    continue
                if not batch_bytes:
                    txn.enter_context(self._local_edit())
                batch_bytes += self._upload(rel)
                done += 1
                progress()
                if batch_bytes >= UPLOAD_BATCH_BYTES:
                    txn.close()
                    batch_bytes = 0
                    await asyncio.sleep(0)
        finally:
            txn.close()
        progress(force=True)
        self._known = {}
        self.save_state()

    def _write_out_initial(self, rel: str, content: str) -> None:
        if not self._writable(rel):
            return
        disk = localfs.read_text(self.root / rel, self.max_bytes)
        if isinstance(disk, Skipped):
            self._tell_skipped(rel, disk)
            return
        if disk == content:
            self.base[rel] = content
            return
        if disk is not None:
            known = self._known.get(rel)
            if known is not None and known == text_hash(content):
                # Edited here while the mirror was stopped, unchanged in the session: send the edit.
                with self._local_edit():
                    self.workspace.write(rel, disk)
                self.base[rel] = disk
                return
            if known is not None and known != text_hash(disk):
                merged = self._merge_both_sides(rel, known, disk, content)
                if merged is not None:
                    self._write(rel, merged)
                    return
            if known is None or known != text_hash(disk):
                self._keep_conflict(rel)  # changed on both sides, or a local file we never synced
            # else: untouched here since the last run, so the session's newer text simply replaces it
        self._write(rel, content)

    def _merge_both_sides(self, rel: str, known: str, disk: str, content: str) -> str | None:
        """Edited here and in the session while the mirror was stopped: when the two edits change
        different lines, put the merge in the session and return it; else None."""
        base = self._bases.read(known)
        merged = clean_merge(base, disk, content) if base is not None else None
        if merged is None:
            return None
        with self._local_edit():
            self.workspace.write(rel, merged)
        self.report(f"{rel}: merged your edits made while away with the session's (they changed different lines)")
        return merged

    def _deleted_while_away(self, rel: str) -> bool:
        """A file the last run synced, untouched here, and gone from the session: delete it here too
        (uploading it would undo someone's delete). Only with the room confirmed to be the same."""
        known = self._known.get(rel)
        if not self._same_room or known is None:
            return False
        disk = localfs.read_text(self.root / rel, self.max_bytes)
        if not isinstance(disk, str) or text_hash(disk) != known:
            return False
        with contextlib.suppress(PermissionError):
            localfs.remove(self.root, rel)
            self.report(f"{rel}: deleted in the session while you were away; removed here too")
        return True

    def _upload(self, rel: str) -> int:
        text = self._read_local(rel)
        if not isinstance(text, str):
            return 0
        self.workspace.write(rel, text)
        self.base[rel] = text
        return len(text) + 1

    # -- run ---------------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Mirror both ways until ``stop`` is set, then settle what is left and return."""
        flusher = asyncio.create_task(self._flush_loop(stop))
        catch_up = asyncio.create_task(self._rescan_once_watching())
        saver = asyncio.create_task(self._save_loop())
        relay = asyncio.create_task(self._relay_stop(stop))
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
                with contextlib.suppress(asyncio.CancelledError, MirrorError):
                    await task
            try:
                if not self._gone:
                    # Edits saved in the last debounce window are on disk but not yet seen: look once more.
                    await self.rescan()
                    await self.flush()
                    self.save_state()
            finally:
                if self._sub is not None:
                    self.workspace.files.unobserve(self._sub)
                    self._sub = None
                self._folder_lock.release()
        if self._gone:
            self._check_folder()

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
        """Record the room and every file's base hash in .collab/state.json (if it changed)."""
        if self._gone:
            return
        hashes: dict[str, str] = {}
        for rel, text in self.base.items():
            cached = self._hashes.get(rel)
            if cached is None or cached[0] is not text:
                cached = self._hashes[rel] = (text, text_hash(text))
            hashes[rel] = cached[1]
        if len(self._hashes) > len(hashes):
            self._hashes = {rel: self._hashes[rel] for rel in hashes}
        state = folderstate.FolderState(self._recorded_room, hashes)
        if state != self._saved:
            with contextlib.suppress(FileNotFoundError):  # the folder went away: _check_folder says so
                self._bases.keep_only({digest: text for text, digest in self._hashes.values()})
            folderstate.save(self.root, folderstate.dump(state))
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
        if rel.rsplit("/", 1)[-1] == ".gitignore":
            return True
        return not self.rules.ignored(rel)

    # -- local -> session --------------------------------------------------------------------------

    async def settle_local(self, rels: Iterable[str]) -> None:
        """Bring the session in line with what these paths (files or folders) hold on disk now."""
        async with self._lock:
            missing: set[str] = set()
            for rel in sorted(rels):
                if rel.rsplit("/", 1)[-1] == ".gitignore":
                    folder = rel.rsplit("/", 1)[0] if "/" in rel else ""
                    self.rules.load_gitignore(folder)
                path = self.root / rel
                if path.is_dir() and not path.is_symlink():
                    # A folder appeared (mkdir -p, mv dir in, git checkout): take what is in it.
                    for inner in localfs.walk(self.root, self.rules, rel):
                        self._local_changed(inner)
                elif path.is_file():
                    self._local_changed(rel)
                else:
                    missing.add(rel)
                    missing.update(p for p in self.base if p.startswith(rel + "/"))
            missing = {m for m in missing if m in self.base}
        if missing:
            mass = len(missing) >= max(10, len(self.base) // 2)
            await asyncio.sleep(MASS_DELETE_GRACE_S if mass else DELETE_GRACE_S)
            async with self._lock:
                self._check_folder()
                for rel in sorted(missing):
                    if not (self.root / rel).exists() and rel in self.base:
                        with self._local_edit():
                            self.workspace.delete(rel)
                        del self.base[rel]
                    elif (self.root / rel).is_file():
                        self._local_changed(rel)

    async def rescan(self) -> None:
        """Compare the whole folder with what we know (after a stop, or when events may be lost)."""
        on_disk = set(localfs.walk(self.root, self.rules))
        await self.settle_local(on_disk | set(self.base))

    def _read_local(self, rel: str) -> str | None:
        try:
            validate_path(rel)
        except PathError as exc:
            self._tell(rel, f"skipped: {exc}")
            return None
        text = localfs.read_text(self.root / rel, self.max_bytes)
        if isinstance(text, Skipped):
            self._tell(rel, f"skipped {rel}: {text.reason}")
            return None
        return text

    def _local_changed(self, rel: str) -> None:
        if self.rules.ignored(rel):
            return
        text = self._read_local(rel)
        if text is None:
            return
        base = self.base.get(rel)
        if text == base:
            return  # our own write, or a save that changed nothing
        with self._local_edit():
            if rel in self.workspace and base is not None:
                current = self.workspace.read(rel)
                self.workspace.write(rel, text if current == base else merge3(base, text, current))
            else:
                self.workspace.write(rel, text)
        self.base[rel] = text
        if self.workspace.read(rel) != text:
            self._mark_dirty(rel)  # merged with a remote edit: the disk needs the merged text

    @contextlib.contextmanager
    def _local_edit(self):  # type: ignore[no-untyped-def]
        """One transaction whose changes the remote observer must not write back to disk."""
        with self.workspace.doc.transaction():
            self._applying_local = True
            try:
                yield
            finally:
                self._applying_local = False

    # -- session -> local --------------------------------------------------------------------------

    def _on_remote(self, events: list[object]) -> None:
        if self._applying_local:
            return
        for event in events:
            path = getattr(event, "path", None)
            if path:
                self._mark_dirty(str(path[0]))
            elif isinstance(event, pycrdt.MapEvent):
                for key in event.keys:
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
            for i, rel in enumerate(sorted(dirty)):
                self._write_out(rel)
                if i % 50 == 49:
                    await asyncio.sleep(0)

    def _write_out(self, rel: str) -> None:
        if rel not in self.workspace:
            self._remove_local(rel)
            return
        if not self._writable(rel):
            return
        base = self.base.get(rel)
        disk = localfs.read_text(self.root / rel, self.max_bytes)
        if isinstance(disk, Skipped):
            self._tell_skipped(rel, disk)
            return
        if isinstance(disk, str) and base is not None and disk != base:
            self._local_changed(rel)  # a save we have not seen yet: merge it in first
            disk = base = self.base.get(rel)
        content = self.workspace.read(rel)
        if disk == content:
            self.base[rel] = content
            return
        if disk is not None and base is None:
            self._keep_conflict(rel)  # a local file of the same name we never saw: keep it aside
        self._write(rel, content)

    def _remove_local(self, rel: str) -> None:
        base = self.base.pop(rel, None)
        if base is None:
            return
        disk = localfs.read_text(self.root / rel, self.max_bytes)
        if isinstance(disk, Skipped):
            return  # a file the mirror skips stays local, whatever the session does with that path
        if isinstance(disk, str) and disk != base:
            # Deleted there, edited here: nothing is lost, the edited file comes back to the session.
            self._tell(rel, f"{rel} was deleted in the session but edited here: keeping your version")
            with self._local_edit():
                self.workspace.write(rel, disk)
            self.base[rel] = disk
            return
        try:
            localfs.remove(self.root, rel)
            self.disk_writes += 1
        except PermissionError as exc:
            self._tell(rel, f"not removed: {exc}")

    def _writable(self, rel: str) -> bool:
        try:
            validate_path(rel)
        except PathError as exc:
            self._tell(rel, f"not written: {exc}")
            return False
        if self.rules.ignored(rel):
            self._tell(rel, f"not written: {rel} is ignored here (.gitignore or a build/VCS folder)")
            return False
        return True

    def _write(self, rel: str, content: str) -> None:
        try:
            localfs.atomic_write(self.root, rel, content)
        except (PermissionError, IsADirectoryError, NotADirectoryError) as exc:
            self._tell(rel, f"not written: {exc}")
            return
        self.base[rel] = content
        self.disk_writes += 1

    def _tell_skipped(self, rel: str, why: Skipped) -> None:
        self._tell(
            rel,
            f"not written: {rel} here is skipped ({why.reason}), so the session's version of it is not "
            "written over it; your file stays as it is",
        )

    def _keep_conflict(self, rel: str) -> None:
        src = self.root / rel
        dst = folderstate.conflict_path(self.root, rel)
        try:
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dst)
        except OSError as exc:
            self._tell(rel, f"could not keep the local copy of {rel}: {exc}")
            raise
        shown = dst.relative_to(self.root).as_posix()
        self.report(f"{rel}: the session's version differs; your copy is kept in {shown}")

    def _tell(self, rel: str, message: str) -> None:
        if (rel, message) not in self._told:
            self._told.add((rel, message))
            self.report(message)
