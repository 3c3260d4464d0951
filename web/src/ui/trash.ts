// The trash (workspace schema 2): files someone deleted, with who and when; anyone who can write
// restores one, back where it was (beside a file that took its path meanwhile, under a conflict name).
// Undo of one's own delete: right after "Delete", the panel says "Deleted x" with an Undo button, and
// Ctrl+Z (Cmd+Z) outside a text field does the same, for UNDO_MS or until the next delete; undo is
// a restore, so it brings back the file with its id, text and history for everyone.
import type { Workspace } from "../workspace.js";
import { clear, h } from "./dom.js";

export const UNDO_MS = 30_000;

interface Undoable {
  id: string;
  path: string;
  timer: ReturnType<typeof setTimeout>;
}

/** A key press that is Ctrl+Z / Cmd+Z aimed at no text field (the editor undoes its own text). */
function undoKey(event: KeyboardEvent): boolean {
  if (event.key.toLowerCase() !== "z" || !(event.ctrlKey || event.metaKey) || event.shiftKey || event.altKey) return false;
  const target = event.target instanceof Element ? event.target : null;
  return !target?.closest("input, textarea, select, [contenteditable], .cm-editor");
}

export class TrashList {
  readonly el: HTMLElement;
  private readonly details: HTMLDetailsElement;
  private readonly summary = h("summary", {}, "Trash");
  private readonly list = h("ul", { class: "files", id: "trash-list", "aria-label": "Trash" });
  private readonly undoText = h("span", {});
  private readonly undoBtn = h("button", { type: "button", id: "undo-delete", class: "secondary small" }, "Undo");
  private readonly undoBar = h("p", { class: "undo-bar small", role: "status", hidden: true }, this.undoText, " ", this.undoBtn);
  private last: Undoable | null = null;

  constructor(
    private readonly ws: Workspace,
    private readonly canWrite: () => boolean,
    private readonly restored: (path: string) => void,
  ) {
    this.details = h("details", { id: "trash" }, this.summary, this.list);
    this.el = h("div", { class: "trash" }, this.undoBar, this.details);
    this.undoBtn.addEventListener("click", () => this.undo());
    document.addEventListener("keydown", (event) => {
      if (this.last && undoKey(event) && this.undo()) event.preventDefault();
    });
  }

  /** The person just moved `id` (at `path`) to the trash: offer to undo it. */
  deleted(id: string, path: string): void {
    this.forget();
    this.last = { id, path, timer: setTimeout(() => this.forget(), UNDO_MS) };
    this.undoText.textContent = `Deleted ${path}.`;
    this.undoBtn.setAttribute("aria-label", `Undo: restore ${path}`);
    this.undoBar.hidden = false;
  }

  /** Restore the file deleted last, if it is still in the trash; true when it came back. */
  undo(): boolean {
    const last = this.last;
    this.forget();
    if (!last || !this.canWrite() || !this.ws.trash().some((e) => e.id === last.id)) return false;
    this.restored(this.ws.restore(last.id));
    return true;
  }

  private forget(): void {
    if (this.last) clearTimeout(this.last.timer);
    this.last = null;
    this.undoBar.hidden = true;
  }

  render(): void {
    const entries = this.ws.trash();
    // Restored meanwhile (by anyone) or emptied: nothing left to undo.
    if (this.last && !entries.some((e) => e.id === this.last?.id)) this.forget();
    this.details.hidden = entries.length === 0;
    this.summary.textContent = `Trash (${entries.length})`;
    clear(this.list);
    for (const entry of entries) {
      const when = new Date(entry.ts * 1000).toLocaleString();
      const restore = h("button", { type: "button", class: "secondary", "aria-label": `Restore ${entry.path}`, "data-restore": entry.path }, "Restore");
      restore.disabled = !this.canWrite();
      restore.addEventListener("click", () => this.restored(this.ws.restore(entry.id)));
      this.list.append(
        h("li", { "data-path": entry.path }, h("span", { class: "path" }, entry.path), " ", h("span", { class: "muted small" }, `deleted by ${entry.by || "someone"}, ${when}`), " ", restore),
      );
    }
  }
}
