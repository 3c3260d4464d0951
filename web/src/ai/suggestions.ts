// Code suggestions from the page's side: request, accept, reject — the TypeScript twin of
// collab/ai/suggestions.py (same entry fields, same statuses, same provenance on accept).
// Positions: the anchor is an encoded Yjs relative position; indices here are UTF-16 code units
// (what Y.Text and CodeMirror count), never exchanged with other clients as numbers.
import * as Y from "yjs";
import { randomBytes, toHex } from "../crypto/bytes.js";
import { WorkspaceError, type Workspace } from "../workspace.js";

export type SuggestionStatus = "requested" | "streaming" | "ready" | "accepted" | "rejected" | "stale" | "error";
export const OPEN_STATUSES: ReadonlySet<string> = new Set(["requested", "streaming", "ready", "stale", "error"]);

export class SuggestionError extends WorkspaceError {
  override name = "SuggestionError";
}

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

export function requestSuggestion(ws: Workspace, file: string, index: number, requestedBy: string): string {
  const ytext = ws.text(file);
  if (!ytext) throw new SuggestionError(`no file ${file}`);
  if (index < 0 || index > ytext.length) throw new SuggestionError(`index ${index} is outside ${file} (0..${ytext.length})`);
  const id = toHex(randomBytes(16)); // uuid4().hex's shape
  const entry = new Y.Map<unknown>();
  ws.doc.transact(() => {
    entry.set("file", file);
    entry.set("anchor", anchorAt(ytext, index));
    entry.set("text", new Y.Text());
    entry.set("status", "requested");
    entry.set("model", "");
    entry.set("requested_by", requestedBy);
    entry.set("ts", Date.now() / 1000);
    ws.suggestions.set(id, entry);
  });
  return id;
}

function entryOf(ws: Workspace, id: string): Y.Map<unknown> {
  const entry = ws.suggestions.get(id);
  if (!(entry instanceof Y.Map)) throw new SuggestionError(`no suggestion ${id}`);
  return entry;
}

/** Insert a ready suggestion at its anchor in one transaction (one update, one undo step); returns the index. */
export function accept(ws: Workspace, id: string, decidedBy: string): number {
  let at = -1;
  ws.doc.transact(() => {
    const entry = entryOf(ws, id);
    const status = entry.get("status");
    if (status !== "ready") throw new SuggestionError(`only a ready suggestion can be accepted; this one is ${String(status)}`);
    const file = String(entry.get("file") ?? "");
    const ytext = ws.text(file);
    if (!ytext) throw new SuggestionError(`the file ${file} of this suggestion no longer exists`);
    const index = resolveAnchor(ws.doc, ytext, entry.get("anchor"));
    if (index === null) throw new SuggestionError("this suggestion's anchor cannot be resolved in its file");
    ytext.insert(index, String(entry.get("text") ?? ""));
    entry.set("status", "accepted");
    entry.set("decided_by", decidedBy);
    entry.set("decided_ts", Date.now() / 1000);
    at = index;
  });
  return at;
}

/** Dismiss a suggestion; a streaming one stops (the agent watches the status). */
export function reject(ws: Workspace, id: string, decidedBy: string): void {
  ws.doc.transact(() => {
    const entry = entryOf(ws, id);
    const status = String(entry.get("status"));
    if (!OPEN_STATUSES.has(status)) throw new SuggestionError(`this suggestion is already ${status}`);
    entry.set("status", "rejected");
    entry.set("decided_by", decidedBy);
    entry.set("decided_ts", Date.now() / 1000);
  });
}

export function suggestions(ws: Workspace, file?: string): Suggestion[] {
  const out: Suggestion[] = [];
  for (const [id, entry] of ws.suggestions.entries()) {
    if (!(entry instanceof Y.Map)) continue;
    const path = String(entry.get("file") ?? "");
    if (file !== undefined && path !== file) continue;
    const ytext = ws.text(path);
    const text = entry.get("text");
    out.push({
      id,
      file: path,
      index: ytext ? resolveAnchor(ws.doc, ytext, entry.get("anchor")) : null,
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
