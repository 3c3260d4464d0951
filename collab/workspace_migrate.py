"""Schema 1 -> 2, in place, once: every file keeps its text, every suggestion its anchor.

Schema 1 kept ``files: Y.Map<path, Y.Text>``. The migrating client writes each file as a schema-2
entry under ``migrated_file_id(path)``, sets ``meta.schema = 2`` and leaves the upgrade notice in
``files``, all as **one update made by a client id derived from what is migrated** (the files'
paths and texts). Two clients of this code that migrate the same room at once (both online, both
synced) therefore make the byte-identical update: Yjs has each item once, so no text is doubled
and there is one copy of each file. Then, in the room's own client, each suggestion gets the id
of its file and its anchor again in the new text, at the same character (both migrators write the
same values).

Limit, said in docs/workspace.md: two migrators that saw *different* schema-1 contents (an offline
schema-1 edit) use different client ids; each file then gets one of the two copies (Yjs' rule for
a key set twice at once); the schema-1 edit is then carried (below), but an edit made in the
other copy at once is lost. Browser migrators use their own client ids
(web/src/workspace.ts), since they cannot promise the same bytes as pycrdt.

The schema-1 texts are kept: an edit an older client makes to one later (or had in flight) is
carried into the schema-2 file by ``carry_legacy`` (docs/workspace.md "Migration from schema 1").
"""

from __future__ import annotations

import hashlib
from typing import Any

import pycrdt

from collab import positions, text_diff
from collab.workspace_files import (
    CREATED_BY,
    CREATED_TS,
    FS,
    LEGACY_FILES,
    META,
    PATH,
    SCHEMA,
    SCHEMA_KEY,
    TEXT,
    UPGRADE_NOTICE,
    UPGRADE_NOTICE_PATH,
    FileTable,
    migrated_file_id,
)

SUGGESTIONS = "suggestions"
FILE_ID = "file_id"  # on a suggestion: the id of the file its anchor is in
# On a file made from a schema-1 file: the legacy ``files`` text as it was last carried into it.
LEGACY_TEXT = "legacy_text"


def migration_client_id(files: dict[str, str], implementation: str = "pycrdt") -> int:
    """The Yjs client id of a migration of these files (32 bits, never 0, as Yjs draws its own)."""
    digest = hashlib.sha256(implementation.encode() + b"\x00")
    for path in sorted(files):
        digest.update(path.encode("utf-8", "surrogatepass") + b"\x00")
        digest.update(files[path].encode("utf-8", "surrogatepass") + b"\x00")
    return int.from_bytes(digest.digest()[:4], "big") or 1


def migration_update(files: dict[str, str]) -> bytes:
    """The one update that writes schema 2 for these schema-1 files (a pure function of them)."""
    made: pycrdt.Doc[Any] = pycrdt.Doc(client_id=migration_client_id(files))
    fs: pycrdt.Map[Any] = made.get(FS, type=pycrdt.Map)
    meta: pycrdt.Map[Any] = made.get(META, type=pycrdt.Map)
    legacy: pycrdt.Map[Any] = made.get(LEGACY_FILES, type=pycrdt.Map)
    with made.transaction():
        for path in sorted(files):
            fs[migrated_file_id(path)] = pycrdt.Map(
                {PATH: path, TEXT: pycrdt.Text(files[path]), CREATED_BY: "", CREATED_TS: 0, LEGACY_TEXT: files[path]}
            )
        meta[SCHEMA_KEY] = SCHEMA
        legacy[UPGRADE_NOTICE_PATH] = pycrdt.Text(UPGRADE_NOTICE)
    return made.get_update()


def migrate(doc: pycrdt.Doc[Any], table: FileTable) -> bool:
    """Migrate a schema-1 document in place; False when it already is schema 2 (or newer)."""
    if table.schema() >= SCHEMA:
        return False
    legacy = table.legacy
    suggestions: pycrdt.Map[Any] = doc.get(SUGGESTIONS, type=pycrdt.Map)
    with doc.transaction():
        files = {path: str(text) for path, text in legacy.items() if isinstance(text, pycrdt.Text)}
        # Where each suggestion points now, as a character index (its old anchor dies with its text).
        anchors: dict[str, tuple[str, int]] = {}
        for sid, entry in suggestions.items():
            if not isinstance(entry, pycrdt.Map):
                continue
            file = entry.get("file")
            old = legacy.get(file) if isinstance(file, str) else None
            if not isinstance(old, pycrdt.Text) or not isinstance(file, str):
                continue
            sticky = positions.decode(old, entry.get("anchor"))
            index = None if sticky is None else positions.resolve_char(old, sticky)
            if index is not None:
                anchors[sid] = (file, index)
    doc.apply_update(migration_update(files))
    # The schema-1 texts stay: an edit an older client makes in one (now, or in flight since
    # before it heard of the migration) would die in a deleted text; ``carry_legacy`` brings it over.
    with doc.transaction():
        for sid, (file, index) in sorted(anchors.items()):
            entry = suggestions.get(sid)
            text = table.text_of(migrated_file_id(file))
            if not isinstance(entry, pycrdt.Map) or text is None:
                continue
            entry[FILE_ID] = migrated_file_id(file)
            entry["anchor"] = positions.sticky_at_char(text, index).encode()
    return True


def _state_vector(doc: pycrdt.Doc[Any]) -> list[tuple[int, int]]:
    """The document's state vector, (client, clock) sorted: its encoding's order is not fixed."""
    data, pos = doc.get_state(), 0

    def varuint() -> int:
        nonlocal pos
        value, shift = 0, 0
        while True:
            byte = data[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value

    return sorted((varuint(), varuint()) for _ in range(varuint()))


def _carry_client_id(state: list[tuple[int, int]], path: str, base: str, new: str, implementation: str) -> int:
    digest = hashlib.sha256(b"carry\x00" + implementation.encode() + b"\x00")
    for client, clock in state:
        digest.update(f"{client}:{clock},".encode())
    for part in (path, base, new):
        digest.update(b"\x00" + part.encode("utf-8", "surrogatepass"))
    return int.from_bytes(digest.digest()[:4], "big") or 1


def carry_legacy(doc: pycrdt.Doc[Any], table: FileTable, implementation: str = "pycrdt") -> int:
    """Carry edits made to schema-1 texts since they were last carried into their schema-2 files;
    return how many files changed. Call it from a writer after the document changed.

    Each schema-1 ``files[path]`` (the notice aside) whose content differs from the ``legacy_text``
    of file ``migrated_file_id(path)`` gets the edit legacy_text -> content moved through the
    schema-2 edits made since (a three-way merge) and written as a minimal diff, with
    ``legacy_text`` set to the content, in one update. That update is made by a client id derived
    from the document's state vector and the texts: two clients of this code carrying the same
    change from the same state make the byte-identical update, and the edit is there once. A path
    with no schema-2 file yet (an older client made a new file) gets one under that id.
    """
    from collab.client.merge import merge3  # collab.client imports collab.workspace

    if table.schema() < SCHEMA:
        return 0
    pending: list[tuple[str, str, str]] = []
    for path, text in table.legacy.items():
        if path == UPGRADE_NOTICE_PATH or not isinstance(text, pycrdt.Text):
            continue
        entry = table.entry(migrated_file_id(path))
        base = entry.get(LEGACY_TEXT) if entry is not None else ""
        new = str(text)
        if isinstance(base, str) and base != new:
            pending.append((path, base, new))
    for path, base, new in sorted(pending):
        made: pycrdt.Doc[Any] = pycrdt.Doc(client_id=_carry_client_id(_state_vector(doc), path, base, new, implementation))
        made.apply_update(doc.get_update())
        fs: pycrdt.Map[Any] = made.get(FS, type=pycrdt.Map)
        before = made.get_state()
        with made.transaction():
            entry = fs.get(migrated_file_id(path))
            if not isinstance(entry, pycrdt.Map) or not isinstance(entry.get(TEXT), pycrdt.Text):
                fs[migrated_file_id(path)] = pycrdt.Map(
                    {PATH: path, TEXT: pycrdt.Text(new), CREATED_BY: "", CREATED_TS: 0, LEGACY_TEXT: new}
                )
            else:
                target: pycrdt.Text = entry[TEXT]
                text_diff.apply_text(target, merge3(base, new, str(target)))
                entry[LEGACY_TEXT] = new
        doc.apply_update(made.get_update(before))
    return len(pending)
