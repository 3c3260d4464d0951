// A session through the bridge: requests, the notifications kept as state, the open files.
// No `vscode` here: this runs (and is tested) under plain Node against a real bridge and hub.
import { EventEmitter } from "events";
import { BridgeOptions, BridgeProcess } from "./rpc";
import { SessionFile } from "./file";
import { Position, Range } from "./text";

export interface Person {
  client: number;
  name: string;
  color: string;
  path: string | null;
  agent: boolean;
}
export interface RemoteCursor {
  path: string;
  client: number;
  name: string;
  color: string;
  ranges: Range[];
  revision?: number;
  editor_revision?: number;
}
export interface ChatMessage {
  id: string;
  author: string;
  kind: string;
  text: string;
  reply_to?: string | null;
}
export interface Suggestion {
  id: string;
  path: string;
  text: string;
  status: string;
  model: string;
  requested_by: string;
  position?: Position;
  revision?: number;
  editor_revision?: number;
}
/** The inline completion the bridge shows this editor (docs/editor-protocol.md, "Inline completions"). */
export interface InlineCompletion {
  id: string;
  path: string;
  /** What is left of it to insert at `position` (what was typed of it is already in the buffer). */
  text: string;
  done: boolean;
  model: string;
  position: Position;
  /** Characters after `position` (auto-closed brackets) that the completion types over. */
  replace: number;
  revision: number;
  editor_revision: number;
}
export interface TrashEntry {
  id: string;
  path: string;
  by: string;
  ts: number;
}
export interface Status {
  state: string;
  read_only: boolean;
  pending: number;
  reason?: string;
}
export interface Joined {
  room: string;
  name: string;
  color: string;
  read_only: boolean;
  encrypted: boolean;
  paths: string[];
}

export const OPEN_SUGGESTION = new Set(["requested", "streaming", "ready"]);

/**
 * Events: "status", "people", "files", "chat", "suggestion", "cursor", "follow", "renamed",
 * "closed", "log", "revision" (a file's stamps moved: its decorations may be current now), "inline",
 * "inline_clear", "exit".
 */
export class CollabSession extends EventEmitter {
  readonly bridge: BridgeProcess;
  joined: Joined | null = null;
  status: Status | null = null;
  people: Person[] = [];
  paths: string[] = [];
  readonly chat = new Map<string, ChatMessage>();
  readonly suggestions = new Map<string, Suggestion>();
  /** path -> client -> their latest cursor */
  readonly cursors = new Map<string, Map<number, RemoteCursor>>();
  readonly files = new Map<string, SessionFile>();
  following: string | null = null;
  lastSuggestion: string | null = null;
  /** The inline completion showing for this editor, if any (only ours: the bridge asks for us). */
  inline: InlineCompletion | null = null;

  constructor(options: BridgeOptions) {
    super();
    this.bridge = new BridgeProcess(options, (method, params) => this.notified(method, params));
    void this.bridge.exit.then((code) => this.emit("exit", code, this.bridge.stderr()));
  }

  get readOnly(): boolean {
    return Boolean(this.joined?.read_only || this.status?.read_only);
  }

  async start(): Promise<void> {
    const hello = await this.bridge.request("initialize", { protocol: 1 });
    if (hello.protocol !== 1) throw new Error(`the bridge speaks protocol ${hello.protocol}; this extension speaks 1`);
  }

  async join(link: string | undefined, name: string | undefined, color?: string): Promise<Joined> {
    const params: Record<string, string> = {};
    if (link) params.link = link;
    if (name) params.name = name;
    if (color) params.color = color;
    this.joined = await this.bridge.request<Joined>("join", params);
    this.paths = this.joined.paths;
    return this.joined;
  }

  /** Open (or open afresh: both counters start again) a session file. */
  async open(path: string, create = false): Promise<SessionFile> {
    const result = await this.bridge.request("open", { path, create });
    const file = new SessionFile(
      result.path, result.text, result.revision, result.editor_revision,
      (params) => this.bridge.request("edit", params).catch((error) => this.emit("log", `edit refused: ${error.message}`)),
      Boolean(result.read_only),
    );
    file.onRevision(() => this.emit("revision", file));
    this.files.set(result.path, file);
    return file;
  }

  async close(path: string): Promise<void> {
    this.files.delete(path);
    this.cursors.delete(path);
    await this.bridge.request("close", { path });
  }

  cursor(file: SessionFile, ranges: Range[]): Promise<unknown> {
    return this.bridge.request("cursor", { path: file.path, revision: file.revision, ranges });
  }

  async suggest(file: SessionFile, position: Position): Promise<string> {
    const { id } = await this.bridge.request("suggest", { path: file.path, revision: file.revision, position });
    this.lastSuggestion = id;
    return id;
  }

  /** The suggestion an Accept/Reject without an id means: the latest one asked for, else the latest open one. */
  latestOpenSuggestion(): Suggestion | undefined {
    const last = this.lastSuggestion ? this.suggestions.get(this.lastSuggestion) : undefined;
    if (last && OPEN_SUGGESTION.has(last.status)) return last;
    return [...this.suggestions.values()].reverse().find((s) => OPEN_SUGGESTION.has(s.status));
  }

  accept(id: string): Promise<unknown> {
    return this.bridge.request("accept", { id });
  }
  reject(id: string): Promise<unknown> {
    return this.bridge.request("reject", { id });
  }
  sendChat(text: string): Promise<{ id: string }> {
    return this.bridge.request("chat", { text });
  }
  follow(name: string): Promise<unknown> {
    this.following = name;
    return this.bridge.request("follow", { name });
  }
  unfollow(): Promise<unknown> {
    this.following = null;
    return this.bridge.request("unfollow", {});
  }
  listFiles(): Promise<{ paths: string[] }> {
    return this.bridge.request("files", {});
  }
  create(path: string, text = ""): Promise<unknown> {
    return this.bridge.request("create", { path, text });
  }
  rename(oldPath: string, newPath: string): Promise<unknown> {
    return this.bridge.request("rename", { old: oldPath, new: newPath });
  }
  remove(path: string): Promise<unknown> {
    return this.bridge.request("delete", { path });
  }

  /** Inline completions on or off for this editor (and a fixed pause before asking, for tests). */
  inlineEnable(enabled: boolean, debounceMs?: number): Promise<{ enabled: boolean; available: boolean; agent: { name: string; model: string } | null }> {
    const params: Record<string, unknown> = { enabled };
    if (debounceMs !== undefined) params.debounce_ms = debounceMs;
    return this.bridge.request("inline_enable", params);
  }
  /** Insert the inline completion through the bridge, or (`inserted`) say the editor inserted it itself. */
  inlineAccept(id: string, inserted = false): Promise<{ path: string; position: Position; revision: number; editor_revision: number }> {
    if (this.inline?.id === id && !inserted) this.inline = null;
    return this.bridge.request("inline_accept", inserted ? { id, inserted } : { id });
  }
  inlineDismiss(): Promise<unknown> {
    this.inline = null;
    return this.bridge.request("inline_dismiss", {});
  }
  async trash(): Promise<TrashEntry[]> {
    return (await this.bridge.request<{ entries: TrashEntry[] }>("trash", {})).entries;
  }
  async restore(id: string, path?: string): Promise<string> {
    return (await this.bridge.request<{ path: string }>("restore", path ? { id, path } : { id })).path;
  }

  /** Leave (pending edits are sent first, a bounded wait) and end the bridge. */
  async stop(): Promise<void> {
    await this.bridge.stop();
  }

  /** Cursors of a file that refer to its buffer as it is now. */
  currentCursors(file: SessionFile): RemoteCursor[] {
    const here = this.cursors.get(file.path);
    if (!here) return [];
    return [...here.values()].filter((c) => c.ranges.length && (c.revision === undefined || file.current(c)));
  }

  private notified(method: string, p: any): void {
    switch (method) {
      case "edit": {
        this.files.get(p.path)?.remote(p);
        break;
      }
      case "cursor": {
        let here = this.cursors.get(p.path);
        if (!here) this.cursors.set(p.path, (here = new Map()));
        if (p.ranges.length) here.set(p.client, p);
        else here.delete(p.client);
        break;
      }
      case "people":
        this.people = p.people;
        for (const [path, here] of this.cursors) {
          for (const client of here.keys()) {
            const person = this.people.find((q) => q.client === client);
            if (!person || person.path !== path) here.delete(client);
          }
        }
        break;
      case "files":
        this.paths = p.paths;
        break;
      case "chat":
        this.chat.set(p.id, p);
        break;
      case "suggestion":
        this.suggestions.set(p.id, p);
        break;
      case "status":
        this.status = p;
        break;
      case "inline":
        this.inline = p;
        break;
      case "inline_clear":
        if (this.inline?.id === p.id) this.inline = null;
        break;
      case "renamed": {
        const file = this.files.get(p.old);
        if (file) {
          this.files.delete(p.old);
          file.path = p.new;
          this.files.set(p.new, file);
        }
        break;
      }
      case "closed":
        this.files.delete(p.path);
        break;
    }
    this.emit(method, p);
  }
}
