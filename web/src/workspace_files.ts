// Workspace schema 2 (docs/workspace.md; collab/workspace_files.py and workspace_migrate.py are the
// Python twins): fs Y.Map<file id, Y.Map{path, text: Y.Text, created_by, created_ts, trashed?}>,
// meta.schema = 2, and schema 1's `files` root holding only the upgrade notice. A rename writes
// `path`; the visible paths, conflict names and the trash rule are computed here exactly as in Python.
import * as Y from "yjs";
import { lineDiff } from "./ui/linediff.js";
import { digest as sha256 } from "lib0/hash/sha256";
import { toHex } from "./crypto/bytes.js";

export const META = "meta";
export const FS = "fs";
export const LEGACY_FILES = "files";
export const SCHEMA = 2;
// On a file made from a schema-1 file: the legacy `files` text as it was last carried into it.
export const LEGACY_TEXT = "legacy_text";
export const UPGRADE_NOTICE_PATH = "COLLAB-UPGRADE-REQUIRED.txt";
export const UPGRADE_NOTICE =
  "This room uses version 2 of the collab workspace schema: its files are no longer in this map.\n" +
  "Upgrade collab (pip install -U collab) and reload the page to see and edit them.\n";

const enc = new TextEncoder();

/** FNV-1a (32 bits) of the UTF-8 text as 8 hex digits (collab.workspace_files.text_digest). */
export function textDigest(text: string): string {
  let h = 0x811c9dc5;
  for (const b of enc.encode(text)) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h.toString(16).padStart(8, "0");
}

/** A schema-1 file's id: sha256("collab-file:" + path), 32 hex digits, as Python computes it. */
export function migratedFileId(path: string): string {
  return toHex(sha256(enc.encode("collab-file:" + path))).slice(0, 32);
}

/** a/b.py -> a/b (conflict tag).py; a name without an extension (or a dotfile) gets the tag at its end. */
export function conflictName(path: string, tag: string): string {
  const slash = path.lastIndexOf("/");
  const folder = path.slice(0, slash + 1);
  const name = path.slice(slash + 1);
  const dot = name.lastIndexOf(".");
  const [stem, ext] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, ""];
  return `${folder}${stem} (conflict ${tag})${ext}`;
}

export interface FileParts {
  path: string;
  text: Y.Text;
}

export function fileParts(entry: unknown): FileParts | null {
  if (!(entry instanceof Y.Map)) return null;
  const path = entry.get("path");
  const text = entry.get("text");
  return typeof path === "string" && path && text instanceof Y.Text ? { path, text } : null;
}

interface TrashMark {
  by?: unknown;
  ts?: unknown;
  path?: unknown;
  digest?: unknown;
}

function trashMark(entry: Y.Map<unknown>): TrashMark | null {
  const mark = entry.get("trashed");
  return mark && typeof mark === "object" && !Array.isArray(mark) && !(mark instanceof Y.AbstractType) ? (mark as TrashMark) : null;
}

/** Deleted, and neither renamed nor edited since by anyone the deleter had not seen. */
export function inTrash(entry: Y.Map<unknown>, parts: FileParts): boolean {
  const mark = trashMark(entry);
  return mark !== null && mark.path === parts.path && mark.digest === textDigest(parts.text.toString());
}

export function trashFields(by: string, parts: FileParts): Record<string, unknown> {
  return { by, ts: Date.now() / 1000, path: parts.path, digest: textDigest(parts.text.toString()) };
}

export interface TrashEntry {
  id: string;
  path: string;
  by: string;
  ts: number;
}

export function trashEntries(fs: Y.Map<unknown>): TrashEntry[] {
  const out: TrashEntry[] = [];
  for (const [id, entry] of fs.entries()) {
    const parts = fileParts(entry);
    if (!parts || !inTrash(entry as Y.Map<unknown>, parts)) continue;
    const mark = trashMark(entry as Y.Map<unknown>) ?? {};
    out.push({ id, path: parts.path, by: String(mark.by ?? ""), ts: Number(mark.ts ?? 0) });
  }
  return out.sort((a, b) => b.ts - a.ts || (a.id < b.id ? -1 : 1));
}

/** Every live file's visible path -> id: the smallest id keeps a shared path, the others get
 *  conflictName(path, id[:8]) (the whole id if that is taken too), groups in the order of their
 *  smallest id (collab.workspace_files.resolve: ids are hex, so both languages sort them alike). */
export function resolvePaths(fs: Y.Map<unknown>): Map<string, string> {
  const claims = new Map<string, string[]>();
  for (const [id, entry] of fs.entries()) {
    const parts = fileParts(entry);
    if (!parts || inTrash(entry as Y.Map<unknown>, parts)) continue;
    const ids = claims.get(parts.path);
    if (ids) ids.push(id);
    else claims.set(parts.path, [id]);
  }
  const byId = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  const groups = [...claims.entries()].map(([path, ids]) => ({ path, ids: ids.sort(byId) }));
  groups.sort((a, b) => byId(a.ids[0]!, b.ids[0]!) || byId(a.path, b.path));
  const out = new Map<string, string>();
  for (const g of groups) out.set(g.path, g.ids[0]!);
  for (const g of groups) {
    for (const id of g.ids.slice(1)) {
      let name = conflictName(g.path, id.slice(0, 8));
      if (out.has(name)) name = conflictName(g.path, id);
      out.set(name, id);
    }
  }
  return out;
}

/** The one update that writes schema 2 for these schema-1 files, from a client id derived from
 *  them: two pages migrating the same room at once make the same update (see docs/workspace.md).
 *  "yjs" in the derivation keeps it apart from Python's, whose bytes may differ. */
export function migrationUpdate(files: Map<string, string>): Uint8Array {
  const paths = [...files.keys()].sort();
  let h = 0x811c9dc5;
  const mix = (s: string) => {
    for (const b of enc.encode(s + "\u0000")) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  };
  mix("yjs");
  for (const p of paths) {
    mix(p);
    mix(files.get(p)!);
  }
  const made = new Y.Doc();
  made.clientID = h || 1;
  made.transact(() => {
    const fs = made.getMap(FS);
    for (const path of paths) {
      fs.set(
        migratedFileId(path),
        new Y.Map<unknown>([
          ["path", path],
          ["text", new Y.Text(files.get(path)!)],
          ["created_by", ""],
          ["created_ts", 0],
          [LEGACY_TEXT, files.get(path)!],
        ]),
      );
    }
    made.getMap(META).set("schema", SCHEMA);
    made.getMap(LEGACY_FILES).set(UPGRADE_NOTICE_PATH, new Y.Text(UPGRADE_NOTICE));
  });
  return Y.encodeStateAsUpdate(made);
}

/** The one region where `a` and `b` differ: [start, end) of `a` becomes `b.slice(start, bEnd)`. */
function region(a: string, b: string): [number, number, number] {
  let p = 0;
  const limit = Math.min(a.length, b.length);
  while (p < limit && a[p] === b[p]) p++;
  let s = 0;
  while (s < limit - p && a[a.length - 1 - s] === b[b.length - 1 - s]) s++;
  return [p, a.length - s, b.length - s];
}

/** Where a position of `base` is in `current` (base plus edits made since), by a line diff: a
 *  position in a line both keep follows it; one in a line `current` dropped goes where it was. An
 *  end (exclusive) follows the character before it, so text inserted after it is not swallowed. */
function positionsThrough(base: string, current: string): { mapStart: (pos: number) => number; mapEnd: (pos: number) => number } {
  const diff = lineDiff(base, current);
  if (!diff) {
    // Too long for the line diff: one changed region, positions inside it go to its edges.
    const [cs, ce, cn] = region(base, current);
    const at = (pos: number, inside: number) => (pos <= cs ? pos : pos >= ce ? pos + cn - ce : inside);
    return { mapStart: (pos) => at(pos, cs), mapEnd: (pos) => at(pos, cn) };
  }
  const lines: { aStart: number; bStart: number; kept: boolean }[] = [];
  let a = 0;
  let b = 0;
  for (const line of diff) {
    const size = line.text.length + 1;
    if (line.op === "+") b += size;
    else {
      lines.push({ aStart: a, bStart: b, kept: line.op === " " });
      a += size;
      if (line.op === " ") b += size;
    }
  }
  const lineAt = (pos: number) => {
    let found = lines[0]!;
    for (const l of lines) if (l.aStart <= pos) found = l;
    return found;
  };
  return {
    mapStart: (pos) => {
      const l = lineAt(pos);
      return Math.min(current.length, l.kept ? l.bStart + pos - l.aStart : l.bStart);
    },
    mapEnd: (pos) => {
      if (pos === 0) return 0;
      const l = lineAt(pos - 1);
      return Math.min(current.length, l.kept ? l.bStart + pos - l.aStart : l.bStart);
    },
  };
}

/** An edit to schema-1 `path` (`base` as last carried -> `now`), carried into its schema-2 file
 *  (docs/workspace.md "Migration from schema 1"): the changed region moved through the schema-2
 *  edits made since, written with `legacy_text = now`, from a client id derived from the
 *  document's state vector and the texts, so two pages carrying it from one state write it once. */
export function carryUpdate(doc: Y.Doc, path: string, base: string, now: string): Uint8Array {
  let h = 0x811c9dc5;
  const mix = (s: string) => {
    for (const b of enc.encode(s + "\u0000")) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  };
  mix("carry");
  mix("yjs");
  const sv = [...Y.decodeStateVector(Y.encodeStateVector(doc)).entries()].sort((x, y) => x[0] - y[0]);
  for (const [client, clock] of sv) mix(`${client}:${clock}`);
  mix(path);
  mix(base);
  mix(now);
  const made = new Y.Doc();
  made.clientID = h || 1;
  Y.applyUpdate(made, Y.encodeStateAsUpdate(doc));
  const before = Y.encodeStateVector(made);
  made.transact(() => {
    const fs = made.getMap(FS);
    const id = migratedFileId(path);
    const entry = fs.get(id);
    const text = entry instanceof Y.Map ? entry.get("text") : undefined;
    if (!(entry instanceof Y.Map) || !(text instanceof Y.Text)) {
      const file = new Y.Map<unknown>([["path", path], ["text", new Y.Text(now)], ["created_by", ""], ["created_ts", 0], [LEGACY_TEXT, now]]);
      fs.set(id, file);
      return;
    }
    const [start, end, nowEnd] = region(base, now);
    const { mapStart, mapEnd } = positionsThrough(base, text.toString());
    const from = mapStart(start);
    const to = end > start ? Math.max(from, mapEnd(end)) : from;
    if (to > from) text.delete(from, to - from);
    if (nowEnd > start) text.insert(from, now.slice(start, nowEnd));
    entry.set(LEGACY_TEXT, now);
  });
  return Y.encodeStateAsUpdate(made, before);
}
