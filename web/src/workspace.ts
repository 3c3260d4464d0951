// The shared document's schema (DESIGN.md §3, docs/workspace.md; collab/workspace.py is the
// Python twin): schema 2's fs Y.Map<file id, Y.Map{path, text, ...}> with meta.schema (schema 1's
// files Y.Map<path, Y.Text> is read until the room is migrated), chat Y.Array<Y.Map>, suggestions
// Y.Map<id, Y.Map>, agents Y.Map<name, {status, by, ts}>. Every read and write of a root goes
// through this module (and workspace_files.ts), so a field name lives in one place per language.
import * as Y from "yjs";
import { randomBytes, toHex } from "./crypto/bytes.js";
import {
  FS,
  LEGACY_FILES,
  LEGACY_TEXT,
  UPGRADE_NOTICE_PATH,
  carryUpdate,
  META,
  SCHEMA,
  fileParts,
  migratedFileId,
  migrationUpdate,
  resolvePaths,
  trashEntries,
  trashFields,
  type TrashEntry,
} from "./workspace_files.js";

export type { TrashEntry } from "./workspace_files.js";

export const FILES = LEGACY_FILES;
export const CHAT = "chat";
export const SUGGESTIONS = "suggestions";
// One entry per invited agent name, {status, by, ts} (collab/ai/service.py obeys "removed" by leaving).
export const AGENTS = "agents";
const MAX_PATH_BYTES = 1024;
const MAX_SEGMENT_BYTES = 255;

export class WorkspaceError extends Error {
  override name = "WorkspaceError";
}

export class SuggestionError extends WorkspaceError {
  override name = "SuggestionError";
}

export interface ChatMessage {
  id: string;
  author: string;
  kind: "human" | "ai";
  text: string;
  ts: number; // seconds since the epoch, as Python's time.time()
  replyTo?: string;
  status?: string; // AI replies: streaming, done, error, refused (docs/ai.md)
  model?: string;
}

export type SuggestionStatus = "requested" | "streaming" | "ready" | "accepted" | "rejected" | "stale" | "error";
export const OPEN_STATUSES: ReadonlySet<string> = new Set(["requested", "streaming", "ready", "stale", "error"]);
/** Open suggestions whose code an edit on their line makes stale. */
const STALE_ON_EDIT: ReadonlySet<string> = new Set(["requested", "streaming", "ready"]);

// Indices here are UTF-16 code units (what Y.Text and CodeMirror count), never exchanged with
// other clients as numbers: the anchor is an encoded Yjs relative position.
export interface Suggestion {
  id: string;
  file: string; // the file's path now (schema 2 follows it through renames by its file_id)
  index: number | null; // where the anchor is now (UTF-16), null if it cannot be resolved
  text: string;
  status: SuggestionStatus;
  model: string;
  agent: string;
  requestedBy: string;
  decidedBy: string;
  error: string;
  ts: number;
}

export interface RoomAgent {
  status: "invited" | "removed" | string;
  by: string;
  ts: number;
}

/** Same rules as collab.workspace.validate_path: relative, /-separated, no "", ".", "..". */
export function validatePath(path: string): string {
  if (!path) throw new WorkspaceError("empty file path");
  if (/[\u0000-\u001f\u007f]/.test(path)) throw new WorkspaceError("the file name contains a control character");
  if (path.includes("\\")) throw new WorkspaceError("use / to separate folders, not \\");
  if (path.startsWith("/") || (path.length > 1 && path[1] === ":")) throw new WorkspaceError("file paths are relative: drop the leading /");
  const enc = new TextEncoder();
  if (enc.encode(path).length > MAX_PATH_BYTES) throw new WorkspaceError(`the path is longer than ${MAX_PATH_BYTES} bytes`);
  for (const segment of path.split("/")) {
    if (segment === "" || segment === "." || segment === "..") throw new WorkspaceError("a path may not have an empty, '.' or '..' part");
    if (enc.encode(segment).length > MAX_SEGMENT_BYTES) throw new WorkspaceError(`a name is longer than ${MAX_SEGMENT_BYTES} bytes`);
  }
  return path;
}

/** A relative position at `index` as Yjs writes it (assoc 0; the end of a text is the text itself), as docs/workspace.md specifies. */
export function anchorAt(ytext: Y.Text, index: number): Uint8Array {
  return Y.encodeRelativePosition(Y.createRelativePositionFromTypeIndex(ytext, Math.min(index, ytext.length)));
}

export function resolveAnchor(doc: Y.Doc, ytext: Y.Text, anchor: unknown): number | null {
  let bytes: Uint8Array | null = null;
  if (anchor instanceof Uint8Array) bytes = anchor;
  else if (Array.isArray(anchor) && anchor.every((b) => Number.isInteger(b) && b >= 0 && b < 256)) bytes = Uint8Array.from(anchor as number[]);
  if (!bytes) return null;
  try {
    const pos = Y.createAbsolutePositionFromRelativePosition(Y.decodeRelativePosition(bytes), doc);
    return pos && pos.type === ytext ? pos.index : null;
  } catch {
    return null;
  }
}

const now = () => Date.now() / 1000; // seconds since the epoch, as Python's time.time()
const newId = () => toHex(randomBytes(16)); // same shape as Python's uuid4().hex

export class Workspace {
  private readonly files: Y.Map<unknown>;
  private readonly fs: Y.Map<unknown>;
  private readonly meta: Y.Map<unknown>;
  private readonly chat: Y.Array<Y.Map<unknown>>;
  private readonly entries: Y.Map<Y.Map<unknown>>;
  private readonly agents: Y.Map<unknown>;
  private resolved: Map<string, string> | null = null; // schema 2: visible path -> file id

  /** `user`: who a created or deleted file is recorded as made or deleted by (the trash shows it). */
  constructor(readonly doc: Y.Doc, private readonly user: () => string = () => "") {
    this.files = doc.getMap(FILES);
    this.fs = doc.getMap(FS);
    this.meta = doc.getMap(META);
    this.chat = doc.getArray(CHAT);
    this.entries = doc.getMap(SUGGESTIONS);
    this.agents = doc.getMap(AGENTS);
    this.fs.observeDeep(() => (this.resolved = null));
    this.meta.observe(() => (this.resolved = null));
  }

  // -- files (both schemas) --------------------------------------------------------------------

  schema(): number {
    const v = this.meta.get("schema");
    return typeof v === "number" && v >= 1 ? v : 1;
  }

  private v2(): boolean {
    const schema = this.schema();
    if (schema > SCHEMA) throw new WorkspaceError(`this room uses workspace schema ${schema}; reload the page to get the newer collab`);
    return schema === SCHEMA;
  }

  private table(): Map<string, string> {
    if (!this.resolved) this.resolved = resolvePaths(this.fs);
    return this.resolved;
  }

  paths(): string[] {
    if (this.schema() > SCHEMA) return [];
    const keys = this.v2() ? [...this.table().keys()] : [...this.files.keys()];
    return keys.sort((a, b) => a.localeCompare(b));
  }

  has(path: string): boolean {
    return this.text(path) !== undefined;
  }

  text(path: string): Y.Text | undefined {
    if (this.schema() > SCHEMA) return undefined;
    if (!this.v2()) {
      const t = this.files.get(path);
      return t instanceof Y.Text ? t : undefined;
    }
    const id = this.table().get(path);
    return id === undefined ? undefined : this.textOf(id);
  }

  /** Schema 2: the stable id of the file at `path` (undefined in schema 1). */
  fileId(path: string): string | undefined {
    return this.v2() ? this.table().get(path) : undefined;
  }

  /** Where the file `id` is now; undefined when it is in the trash or gone. */
  pathOf(id: string): string | undefined {
    if (!this.v2()) return undefined;
    for (const [path, fid] of this.table()) if (fid === id) return path;
    return undefined;
  }

  /** The visible path of a Y.Text (how the editor follows its file through a rename). */
  pathOfText(text: Y.Text): string | undefined {
    for (const path of this.paths()) if (this.text(path) === text) return path;
    return undefined;
  }

  private textOf(id: string): Y.Text | undefined {
    return fileParts(this.fs.get(id))?.text;
  }

  /** `listener` gets the visible paths that appeared, went or now name another file (not edits inside a file). */
  observeFiles(listener: (changed: ReadonlySet<string>) => void): void {
    let before = this.snapshotPaths();
    const changed = () => {
      const now = this.snapshotPaths();
      const diff = new Set<string>();
      for (const [p, id] of now) if (before.get(p) !== id) diff.add(p);
      for (const p of before.keys()) if (!now.has(p)) diff.add(p);
      before = now;
      if (diff.size) listener(diff);
    };
    this.files.observe(changed);
    this.fs.observeDeep((events) => {
      // An edit inside a text changes no path, unless it brings a deleted file back.
      if (events.some((e) => !(e.target instanceof Y.Text) || e.target.parent instanceof Y.Map && e.target.parent.has("trashed"))) changed();
    });
    this.meta.observe(changed);
  }

  private snapshotPaths(): Map<string, unknown> {
    if (this.schema() > SCHEMA) return new Map();
    if (this.v2()) return new Map(this.table());
    return new Map([...this.files.entries()]);
  }

  create(path: string, content = ""): string {
    validatePath(path);
    if (this.has(path)) throw new WorkspaceError(`${path} already exists`);
    if (!this.v2()) {
      this.files.set(path, new Y.Text(content));
      return path;
    }
    const id = newId();
    this.fs.set(id, new Y.Map<unknown>([
      ["path", path],
      ["text", new Y.Text(content)],
      ["created_by", this.user()],
      ["created_ts", now()],
    ]));
    return id;
  }

  /** Schema 2: one write of the file's path (edits in flight stay in it). Schema 1: a copy under the new name. */
  rename(from: string, to: string): void {
    validatePath(to);
    const old = this.text(from);
    if (!old) throw new WorkspaceError(`no file ${from}`);
    if (from === to) return;
    if (this.has(to)) throw new WorkspaceError(`${to} already exists`);
    if (this.v2()) {
      (this.fs.get(this.table().get(from)!) as Y.Map<unknown>).set("path", to);
      return;
    }
    this.doc.transact(() => {
      this.files.set(to, new Y.Text(old.toString()));
      this.files.delete(from);
    });
  }

  /** Schema 2: to the trash, restorable by anyone (`restore(id)` with the id returned undoes it). Schema 1: gone. */
  delete(path: string): string | undefined {
    if (!this.v2()) {
      this.files.delete(path);
      return undefined;
    }
    const id = this.table().get(path);
    const entry = id === undefined ? undefined : this.fs.get(id);
    const parts = fileParts(entry);
    if (!parts) return undefined;
    (entry as Y.Map<unknown>).set("trashed", trashFields(this.user(), parts));
    return id;
  }

  trash(): TrashEntry[] {
    return this.schema() === SCHEMA ? trashEntries(this.fs) : [];
  }

  /** Back from the trash (to `path` if given); returns where it is now (a conflict name if its path was taken). */
  restore(id: string, path?: string): string {
    if (path !== undefined) validatePath(path);
    const entry = this.v2() ? this.fs.get(id) : undefined;
    if (!(entry instanceof Y.Map) || !fileParts(entry)) throw new WorkspaceError("no such file in the trash");
    this.doc.transact(() => {
      if (path !== undefined) entry.set("path", path);
      entry.delete("trashed");
    });
    const where = this.pathOf(id);
    if (!where) throw new WorkspaceError("the file could not be restored");
    return where;
  }

  /** Empty what has been in the trash longer than the room's settings.trash_days (none while unset). */
  expireTrash(nowSeconds = now()): number {
    const days = this.doc.getMap("settings").get("trash_days");
    if (this.schema() !== SCHEMA || typeof days !== "number" || !(days > 0)) return 0;
    const cutoff = nowSeconds - days * 86400;
    const old = this.trash().filter((e) => e.ts < cutoff);
    return old.length ? this.emptyTrash(old.map((e) => e.id)) : 0;
  }

  /** Delete files in the trash for good (those of `ids`, or all); returns how many. */
  emptyTrash(ids?: readonly string[]): number {
    const doomed = this.trash().filter((e) => !ids || ids.includes(e.id));
    this.doc.transact(() => doomed.forEach((e) => this.fs.delete(e.id)));
    return doomed.length;
  }

  /** Schema 1 -> 2 in place (docs/workspace.md "Migration from schema 1"); false if already done. */
  migrate(): boolean {
    if (this.v2()) return false;
    const files = new Map<string, string>();
    for (const [path, t] of this.files.entries()) if (t instanceof Y.Text) files.set(path, t.toString());
    const anchors = new Map<string, [string, number]>();
    for (const [id, entry] of this.entries.entries()) {
      if (!(entry instanceof Y.Map)) continue;
      const file = entry.get("file");
      const old = typeof file === "string" ? this.files.get(file) : undefined;
      const index = old instanceof Y.Text ? resolveAnchor(this.doc, old, entry.get("anchor")) : null;
      if (typeof file === "string" && index !== null) anchors.set(id, [file, index]);
    }
    Y.applyUpdate(this.doc, migrationUpdate(files));
    // The schema-1 texts stay: an older client's edit to one (now, or in flight since before it
    // heard of the migration) would die in a deleted text; carryLegacy brings it over.
    this.doc.transact(() => {
      for (const [id, [file, index]] of anchors) {
        const entry = this.entries.get(id);
        const text = this.textOf(migratedFileId(file));
        if (!(entry instanceof Y.Map) || !text) continue;
        entry.set("file_id", migratedFileId(file));
        entry.set("anchor", anchorAt(text, index));
      }
    });
    return true;
  }

  /** Carry edits made to schema-1 `files` texts into their schema-2 files; how many changed. */
  carryLegacy(): number {
    if (!this.v2()) return 0;
    const pending: [string, string, string][] = [];
    for (const [path, t] of this.files.entries()) {
      if (path === UPGRADE_NOTICE_PATH || !(t instanceof Y.Text)) continue;
      const entry = this.fs.get(migratedFileId(path));
      const base = entry instanceof Y.Map ? entry.get(LEGACY_TEXT) : "";
      const now = t.toString();
      if (typeof base === "string" && base !== now) pending.push([path, base, now]);
    }
    pending.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    for (const [path, base, now] of pending) Y.applyUpdate(this.doc, carryUpdate(this.doc, path, base, now));
    return pending.length;
  }

  private following = false;

  /** For a writer: carry schema-1 edits as they arrive (an older client's, or one in flight while
   *  the room was migrated). Idempotent. */
  followLegacy(): void {
    if (this.following) return;
    this.following = true;
    let scheduled = false;
    const changed = () => {
      if (scheduled) return;
      scheduled = true;
      // After the transaction, staggered by client id: a page that hears another's carry first has nothing left to do.
      setTimeout(() => {
        scheduled = false;
        this.carryLegacy();
      }, (this.doc.clientID % 16) * 20);
    };
    this.files.observeDeep(changed);
    this.meta.observe(changed);
    changed();
  }

  /** A suggestion's file: by its id in schema 2 (renames kept), by path otherwise. */
  private suggestionFile(entry: Y.Map<unknown>): { path: string; text: Y.Text | undefined } {
    const id = entry.get("file_id");
    if (typeof id === "string" && this.schema() === SCHEMA) {
      const path = this.pathOf(id);
      return { path: path ?? String(entry.get("file") ?? ""), text: path ? this.textOf(id) : undefined };
    }
    const path = String(entry.get("file") ?? "");
    return { path, text: this.text(path) };
  }

  // -- chat ----------------------------------------------------------------------------------

  observeChat(listener: () => void): void {
    this.chat.observeDeep(listener);
  }

  postChat(author: string, text: string): string {
    const id = newId();
    const message = new Y.Map<unknown>();
    message.set("id", id);
    message.set("author", author);
    message.set("kind", "human");
    message.set("text", new Y.Text(text));
    message.set("ts", now());
    this.chat.push([message]);
    return id;
  }

  messages(): ChatMessage[] {
    const out: ChatMessage[] = [];
    for (const item of this.chat.toArray()) {
      if (!(item instanceof Y.Map)) continue;
      const text = item.get("text");
      const replyTo = item.get("reply_to");
      const status = item.get("status");
      const model = item.get("model");
      out.push({
        id: String(item.get("id") ?? ""),
        author: String(item.get("author") ?? ""),
        kind: item.get("kind") === "ai" ? "ai" : "human",
        text: text instanceof Y.Text ? text.toString() : String(text ?? ""),
        ts: Number(item.get("ts") ?? 0),
        ...(typeof replyTo === "string" ? { replyTo } : {}),
        ...(typeof status === "string" ? { status } : {}),
        ...(typeof model === "string" ? { model } : {}),
      });
    }
    return out;
  }

  // -- suggestions (the TypeScript twin of collab/ai/suggestions.py: same fields, same statuses) --

  observeSuggestions(listener: () => void): void {
    this.entries.observeDeep(listener);
  }

  suggestions(file?: string): Suggestion[] {
    const out: Suggestion[] = [];
    for (const [id, entry] of this.entries.entries()) {
      if (!(entry instanceof Y.Map)) continue;
      const { path, text: ytext } = this.suggestionFile(entry);
      if (file !== undefined && path !== file) continue;
      const text = entry.get("text");
      out.push({
        id,
        file: path,
        index: ytext ? resolveAnchor(this.doc, ytext, entry.get("anchor")) : null,
        text: text instanceof Y.Text ? text.toString() : String(text ?? ""),
        status: String(entry.get("status") ?? "requested") as SuggestionStatus,
        model: String(entry.get("model") ?? ""),
        agent: String(entry.get("agent") ?? ""),
        requestedBy: String(entry.get("requested_by") ?? ""),
        decidedBy: String(entry.get("decided_by") ?? ""),
        error: String(entry.get("error") ?? ""),
        ts: Number(entry.get("ts") ?? 0),
      });
    }
    return out.sort((a, b) => a.ts - b.ts);
  }

  requestSuggestion(file: string, index: number, requestedBy: string): string {
    const ytext = this.text(file);
    if (!ytext) throw new SuggestionError(`no file ${file}`);
    if (index < 0 || index > ytext.length) throw new SuggestionError(`index ${index} is outside ${file} (0..${ytext.length})`);
    const id = newId();
    const entry = new Y.Map<unknown>();
    const fileId = this.fileId(file);
    this.doc.transact(() => {
      if (fileId !== undefined) entry.set("file_id", fileId);
      entry.set("file", file);
      entry.set("anchor", anchorAt(ytext, index));
      entry.set("text", new Y.Text());
      entry.set("status", "requested");
      entry.set("model", "");
      entry.set("requested_by", requestedBy);
      entry.set("ts", now());
      this.entries.set(id, entry);
    });
    return id;
  }

  /** Insert a ready suggestion at its anchor in one transaction (one update, one undo step); returns the index. */
  acceptSuggestion(id: string, decidedBy: string): number {
    let at = -1;
    this.doc.transact(() => {
      const entry = this.entry(id);
      const status = entry.get("status");
      if (status !== "ready") throw new SuggestionError(`only a ready suggestion can be accepted; this one is ${String(status)}`);
      const { path: file, text: ytext } = this.suggestionFile(entry);
      if (!ytext) throw new SuggestionError(`the file ${file} of this suggestion no longer exists`);
      const index = resolveAnchor(this.doc, ytext, entry.get("anchor"));
      if (index === null) throw new SuggestionError("this suggestion's anchor cannot be resolved in its file");
      ytext.insert(index, String(entry.get("text") ?? ""));
      this.decide(entry, "accepted", decidedBy);
      at = index;
    });
    return at;
  }

  /** Dismiss a suggestion; a streaming one stops (the agent watches the status). */
  rejectSuggestion(id: string, decidedBy: string): void {
    this.doc.transact(() => {
      const entry = this.entry(id);
      const status = String(entry.get("status"));
      if (!OPEN_STATUSES.has(status)) throw new SuggestionError(`this suggestion is already ${status}`);
      this.decide(entry, "rejected", decidedBy);
    });
  }

  /** A local edit touched the line of these suggestions: those still open no longer fit the code. */
  markStale(ids: readonly string[]): void {
    this.doc.transact(() => {
      for (const id of ids) {
        const entry = this.entries.get(id);
        if (!(entry instanceof Y.Map) || !STALE_ON_EDIT.has(String(entry.get("status")))) continue;
        entry.set("status", "stale");
        entry.set("error", "the code at the anchor was edited");
      }
    });
  }

  private entry(id: string): Y.Map<unknown> {
    const entry = this.entries.get(id);
    if (!(entry instanceof Y.Map)) throw new SuggestionError(`no suggestion ${id}`);
    return entry;
  }

  private decide(entry: Y.Map<unknown>, status: "accepted" | "rejected", decidedBy: string): void {
    entry.set("status", status);
    entry.set("decided_by", decidedBy);
    entry.set("decided_ts", now());
  }

  // -- agents invited into the room ------------------------------------------------------------

  observeAgents(listener: () => void): void {
    this.agents.observe(listener);
  }

  roomAgent(name: string): Partial<RoomAgent> | undefined {
    const entry = this.agents.get(name);
    return entry && typeof entry === "object" ? (entry as Partial<RoomAgent>) : undefined;
  }

  setRoomAgent(name: string, status: "invited" | "removed", by: string): void {
    this.agents.set(name, { status, by, ts: now() });
  }

  forgetRoomAgent(name: string): void {
    this.agents.delete(name);
  }
}
