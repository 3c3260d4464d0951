// The trash (workspace schema 2): files someone deleted, with who and when; anyone who can write
// restores one, back where it was (beside a file that took its path meanwhile, under a conflict name).
import type { Workspace } from "../workspace.js";
import { clear, h } from "./dom.js";

export class TrashList {
  readonly el: HTMLDetailsElement;
  private readonly summary = h("summary", {}, "Trash");
  private readonly list = h("ul", { class: "files", id: "trash-list", "aria-label": "Trash" });

  constructor(
    private readonly ws: Workspace,
    private readonly canWrite: () => boolean,
    private readonly restored: (path: string) => void,
  ) {
    this.el = h("details", { id: "trash" }, this.summary, this.list);
  }

  render(): void {
    const entries = this.ws.trash();
    this.el.hidden = entries.length === 0;
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
