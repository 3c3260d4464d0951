// The shared document's schema (DESIGN.md §3, docs/workspace.md; collab/workspace.py is the
// Python twin): files Y.Map<path, Y.Text>, chat Y.Array<Y.Map>, suggestions Y.Map<id, Y.Map>.
import * as Y from "yjs";
import { randomBytes, toHex } from "./crypto/bytes.js";

export const FILES = "files";
export const CHAT = "chat";
export const SUGGESTIONS = "suggestions";
const MAX_PATH_BYTES = 1024;
const MAX_SEGMENT_BYTES = 255;

export class WorkspaceError extends Error {
  override name = "WorkspaceError";
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

export class Workspace {
  readonly files: Y.Map<Y.Text>;
  readonly chat: Y.Array<Y.Map<unknown>>;
  readonly suggestions: Y.Map<Y.Map<unknown>>;

  constructor(readonly doc: Y.Doc) {
    this.files = doc.getMap(FILES);
    this.chat = doc.getArray(CHAT);
    this.suggestions = doc.getMap(SUGGESTIONS);
  }

  paths(): string[] {
    return [...this.files.keys()].sort((a, b) => a.localeCompare(b));
  }

  text(path: string): Y.Text | undefined {
    const t = this.files.get(path);
    return t instanceof Y.Text ? t : undefined;
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

  postChat(author: string, text: string): string {
    const id = toHex(randomBytes(16)); // same shape as Python's uuid4().hex
    const message = new Y.Map<unknown>();
    message.set("id", id);
    message.set("author", author);
    message.set("kind", "human");
    message.set("text", new Y.Text(text));
    message.set("ts", Date.now() / 1000);
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
}
