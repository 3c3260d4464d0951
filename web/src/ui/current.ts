// Which file the editor shows: opening one (heading, tab title), the first file once there is
// something to show, and what happens when someone else deletes or replaces the open file.
import { Listeners } from "../listeners.js";
import type { Workspace } from "../workspace.js";
import type { FileEditor } from "./editor.js";
import { h } from "./dom.js";
import type { Say } from "./notice.js";

export class CurrentFile {
  readonly heading = h("h2", { id: "editor-heading" }, "No file open");
  private readonly opened = new Listeners<[]>();
  private openedFirst = false;

  constructor(
    private readonly ws: Workspace,
    private readonly editor: FileEditor,
    private readonly say: Say,
    /** Whether the document is worth showing yet: the hub's history is in, or a copy this browser kept. */
    private readonly ready: () => boolean,
    /** Where the file last open in this room is remembered (the room's id). */
    private readonly room = "",
  ) {
    ws.observeFiles((changed) => {
      const current = this.path;
      if (current && changed.has(current)) {
        const text = ws.text(current);
        const moved = !text && editor.ytext ? ws.pathOfText(editor.ytext) : undefined;
        if (moved) {
          // Schema 2: a rename is the same file under a new name; whoever has it open stays in it.
          say(`${current} is now ${moved}`);
          this.retitle(moved);
        } else if (!text) {
          say(ws.schema() >= 2 ? `${current} was deleted: it is in the trash, anyone can restore it` : `${current} was deleted or renamed`);
          this.open(null);
        } else if (text !== editor.ytext) {
          this.open(current); // replaced by someone else's file of the same name
        }
      }
      this.openFirst();
    });
  }

  get path(): string | null {
    return this.editor.path;
  }

  /** After every open (the tree marks the current file, the assistant redraws its suggestions). */
  onOpen(listener: () => void): void {
    this.opened.add(listener);
  }

  open(path: string | null): void {
    const text = path ? this.ws.text(path) : undefined;
    this.editor.open(text ? path : null, text ?? null);
    this.heading.textContent = text ? path! : "No file open";
    document.title = text ? `${path} · collab` : "collab session";
    if (text) this.remember(path!);
    this.opened.emit();
  }

  private retitle(path: string): void {
    this.editor.retitle(path);
    this.heading.textContent = path;
    document.title = `${path} · collab`;
    this.remember(path);
    this.opened.emit();
  }

  // This tab's last file (sessionStorage: a reload lands there), and this browser's (localStorage:
  // a new tab starts there). Only the path, kept on this device, like the name.
  private remember(path: string): void {
    try {
      sessionStorage.setItem(`collab.file ${this.room}`, path);
      localStorage.setItem(`collab.file ${this.room}`, path);
    } catch {
      // Storage blocked: a reload starts at the first file.
    }
  }

  private remembered(): string[] {
    try {
      return [sessionStorage.getItem(`collab.file ${this.room}`), localStorage.getItem(`collab.file ${this.room}`)].filter((p): p is string => !!p);
    } catch {
      return [];
    }
  }

  /** The file to start in: the one you were in, else a README, else the first that is not a dotfile. */
  private firstFile(): string | undefined {
    const paths = this.ws.paths();
    const last = this.remembered().find((p) => this.ws.text(p));
    if (last) return last;
    const readme = paths.filter((p) => /^readme(\.[a-z]+)?$/i.test(p.split("/").pop() ?? "")).sort((a, b) => a.split("/").length - b.split("/").length)[0];
    return readme ?? paths.find((p) => !p.split("/").some((part) => part.startsWith("."))) ?? paths[0];
  }

  /** Open `path` unless it is open already or does not exist (a followed participant's file). */
  show(path: string): void {
    if (path !== this.path && this.ws.text(path)) this.open(path);
  }

  openFirst(): void {
    // A copy kept in this browser is worth showing before the hub answers.
    if (this.openedFirst || !this.ready()) return;
    if (this.path && this.ws.text(this.path)) return;
    const first = this.firstFile();
    if (!first) return;
    this.openedFirst = true;
    this.open(first);
  }
}
