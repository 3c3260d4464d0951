// The session's files as a `collab:` file system. Reading a file opens it at the bridge (so its
// edits flow); writing one that exists is a no-op, since edits reach the session as they are typed.
import * as vscode from "vscode";
import { CollabSession } from "../core/session";
import { Buffers } from "./buffers";
import { pathOf, uriOf } from "./convert";

export class CollabFileSystem implements vscode.FileSystemProvider {
  private readonly emitter = new vscode.EventEmitter<vscode.FileChangeEvent[]>();
  readonly onDidChangeFile = this.emitter.event;
  private known = new Set<string>();
  private readonly opening = new Map<string, Promise<import("../core/file").SessionFile>>();

  constructor(private readonly session: CollabSession, private readonly buffers: Buffers) {
    this.known = new Set(session.paths);
    session.on("files", () => this.filesChanged());
  }

  private filesChanged(): void {
    const now = new Set(this.session.paths);
    const events: vscode.FileChangeEvent[] = [];
    for (const path of now) if (!this.known.has(path)) events.push({ type: vscode.FileChangeType.Created, uri: uriOf(path) });
    for (const path of this.known) if (!now.has(path)) events.push({ type: vscode.FileChangeType.Deleted, uri: uriOf(path) });
    this.known = now;
    if (events.length) this.emitter.fire(events);
  }

  watch(): vscode.Disposable {
    return new vscode.Disposable(() => undefined);
  }

  stat(uri: vscode.Uri): vscode.FileStat {
    const path = pathOf(uri);
    const file = this.session.files.get(path);
    if (this.session.paths.includes(path)) {
      return { type: vscode.FileType.File, ctime: 0, mtime: 0, size: file ? Buffer.byteLength(file.shadow) : 0 };
    }
    if (path === "" || this.session.paths.some((p) => p.startsWith(path + "/"))) {
      return { type: vscode.FileType.Directory, ctime: 0, mtime: 0, size: 0 };
    }
    throw vscode.FileSystemError.FileNotFound(uri);
  }

  readDirectory(uri: vscode.Uri): [string, vscode.FileType][] {
    const prefix = pathOf(uri) ? pathOf(uri) + "/" : "";
    const out = new Map<string, vscode.FileType>();
    for (const path of this.session.paths) {
      if (!path.startsWith(prefix)) continue;
      const rest = path.slice(prefix.length).split("/");
      out.set(rest[0], rest.length > 1 ? vscode.FileType.Directory : vscode.FileType.File);
    }
    return [...out];
  }

  async readFile(uri: vscode.Uri): Promise<Uint8Array> {
    // VS Code reads a file more than once (opening, quick open, checks): while it is open at the bridge
    // the same text goes back, with no second `open` (which would start the revisions afresh while a
    // remote edit is on its way into the document: it landed twice).
    const open = this.session.files.get(pathOf(uri));
    if (open) return Buffer.from(open.shadow, "utf8");
    const path = pathOf(uri);
    try {
      let opening = this.opening.get(path);
      if (!opening) {
        opening = this.session.open(path).then((file) => {
          this.buffers.opened(file);
          return file;
        });
        this.opening.set(path, opening);
        void opening.catch(() => undefined).finally(() => this.opening.delete(path));
      }
      return Buffer.from((await opening).shadow, "utf8");
    } catch (error: any) {
      throw vscode.FileSystemError.FileNotFound(`${pathOf(uri)}: ${error.message}`);
    }
  }

  async writeFile(uri: vscode.Uri, content: Uint8Array, options: { create: boolean }): Promise<void> {
    const path = pathOf(uri);
    if (this.session.paths.includes(path)) return; // already in the session, as typed
    if (!options.create) throw vscode.FileSystemError.FileNotFound(uri);
    await this.session.create(path, Buffer.from(content).toString("utf8"));
  }

  createDirectory(): void {
    // Folders are implied by the files' paths.
  }

  async delete(uri: vscode.Uri): Promise<void> {
    const path = pathOf(uri);
    const inside = this.session.paths.filter((p) => p === path || p.startsWith(path + "/"));
    for (const p of inside) await this.session.remove(p);
  }

  async rename(oldUri: vscode.Uri, newUri: vscode.Uri): Promise<void> {
    await this.session.rename(pathOf(oldUri), pathOf(newUri));
  }
}
