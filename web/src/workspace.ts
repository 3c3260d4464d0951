// The shared document's schema (DESIGN.md §3, docs/workspace.md; collab/workspace.py is the
// Python twin): files Y.Map<path, Y.Text>, chat Y.Array<Y.Map>, suggestions Y.Map<id, Y.Map>,
// agents Y.Map<name, {status, by, ts}>. Every read and write of a root goes through this module,
// so a field name lives in one place per language.
import * as Y from "yjs";
import { randomBytes, toHex } from "./crypto/bytes.js";

export const FILES = "files";
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
  file: string;
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
  private readonly files: Y.Map<Y.Text>;
  private readonly chat: Y.Array<Y.Map<unknown>>;
  private readonly entries: Y.Map<Y.Map<unknown>>;
  private readonly agents: Y.Map<unknown>;

  constructor(readonly doc: Y.Doc) {
    this.files = doc.getMap(FILES);
    this.chat = doc.getArray(CHAT);
    this.entries = doc.getMap(SUGGESTIONS);
    this.agents = doc.getMap(AGENTS);
  }

  // -- files ---------------------------------------------------------------------------------

  paths(): string[] {
    return [...this.files.keys()].sort((a, b) => a.localeCompare(b));
  }

  has(path: string): boolean {
    return this.files.has(path);
  }

  text(path: string): Y.Text | undefined {
    const t = this.files.get(path);
    return t instanceof Y.Text ? t : undefined;
  }

  /** `listener` gets the paths set or deleted (not edits inside a file). */
  observeFiles(listener: (changed: ReadonlySet<string>) => void): void {
    this.files.observe((event) => listener(event.keysChanged));
  }

  create(path: string, content = ""): void {
    validatePath(path);
    if (this.files.has(path)) throw new WorkspaceError(`${path} already exists`);
    this.files.set(path, new Y.Text(content));
  }

  /** Y.Map has no move: the new path gets a new Y.Text with the content; the old one goes. */
  rename(from: string, to: string): void {
    validatePath(to);
    const old = this.text(from);
    if (!old) throw new WorkspaceError(`no file ${from}`);
    if (from === to) return;
    if (this.files.has(to)) throw new WorkspaceError(`${to} already exists`);
    this.doc.transact(() => {
      this.files.set(to, new Y.Text(old.toString()));
      this.files.delete(from);
    });
  }

  delete(path: string): void {
    this.files.delete(path);
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
      const path = String(entry.get("file") ?? "");
      if (file !== undefined && path !== file) continue;
      const ytext = this.text(path);
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
    this.doc.transact(() => {
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
      const file = String(entry.get("file") ?? "");
      const ytext = this.text(file);
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
