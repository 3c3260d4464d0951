// The file tree: every path in the workspace, with who is in which file; create, rename, delete.
import type { Awareness } from "y-protocols/awareness";
import type { Workspace } from "../workspace.js";
import { validatePath } from "../workspace.js";
import { ask, confirmAction } from "./dialog.js";
import { clear, h } from "./dom.js";
import { people } from "./people.js";
import { TrashList } from "./trash.js";

export interface FilesHost {
  current(): string | null;
  /** The person picked a file: open it (and stop following whoever they followed). */
  open(path: string): void;
  canWrite(): boolean;
}

export class FileTree {
  readonly el: HTMLElement;
  private list = h("ul", { class: "files", id: "file-list", "aria-label": "Files" });
  private newBtn = h("button", { type: "button", id: "new-file" }, "New file");
  private renameBtn = h("button", { type: "button", id: "rename-file", class: "secondary" }, "Rename");
  private deleteBtn = h("button", { type: "button", id: "delete-file", class: "secondary" }, "Delete");
  private trash: TrashList;

  constructor(private readonly ws: Workspace, private readonly awareness: Awareness, private readonly host: FilesHost) {
    this.trash = new TrashList(ws, () => host.canWrite(), (path) => host.open(path));
    this.el = h(
      "section",
      { class: "panel", "aria-labelledby": "files-heading" },
      h("h2", { id: "files-heading" }, "Files"),
      h("div", { class: "row" }, this.newBtn, this.renameBtn, this.deleteBtn),
      this.list,
      this.trash.el,
    );
    this.newBtn.addEventListener("click", () => void this.create());
    this.renameBtn.addEventListener("click", () => void this.rename());
    this.deleteBtn.addEventListener("click", () => void this.remove());
    ws.observeFiles(() => this.render());
    awareness.on("change", () => this.render()); // who is in which file
  }

  private check(value: string, exclude: string | null = null): string | null {
    try {
      validatePath(value);
    } catch (err) {
      return (err as Error).message;
    }
    return value !== exclude && this.ws.has(value) ? `${value} already exists` : null;
  }

  private async create(): Promise<void> {
    const path = await ask({ title: "New file", label: "File path (for example src/app.py)", submit: "Create", validate: (v) => this.check(v) });
    if (!path) return;
    this.ws.create(path);
    this.host.open(path);
  }

  private async rename(): Promise<void> {
    const from = this.host.current();
    if (!from) return;
    const to = await ask({ title: `Rename ${from}`, label: "New path", value: from, submit: "Rename", validate: (v) => this.check(v, from) });
    if (!to || to === from) return;
    this.ws.rename(from, to);
    this.host.open(to);
  }

  private async remove(): Promise<void> {
    const path = this.host.current();
    const question = this.ws.schema() >= 2 ? `Move ${path} to the trash? Anyone in the room can restore it, and an edit or a rename someone makes at the same moment keeps it.` : `Delete ${path} for everyone?`;
    if (!path || !(await confirmAction(question, "Delete"))) return;
    this.ws.delete(path);
  }

  render(): void {
    const current = this.host.current();
    const writable = this.host.canWrite();
    this.newBtn.disabled = !writable;
    this.renameBtn.disabled = !writable || !current;
    this.deleteBtn.disabled = !writable || !current;
    clear(this.list);
    this.trash.render();
    const paths = this.ws.paths();
    if (!paths.length) this.list.append(h("li", { class: "muted" }, writable ? "No files yet: create one." : "No files yet."));
    const others = people(this.awareness).filter((p) => !p.self);
    for (const path of paths) {
      const here = others.filter((p) => p.file === path);
      const label = here.length ? `${path}, open by ${here.map((p) => p.name).join(", ")}` : path;
      const button = h(
        "button",
        { type: "button", class: "file", "aria-current": path === current ? "true" : undefined, "aria-label": label, "data-path": path },
        h("span", { class: "path" }, path),
        ...here.map((p) => {
          const dot = h("span", { class: "dot", title: p.name, "aria-hidden": "true" });
          dot.style.background = p.color;
          return dot;
        }),
      );
      button.addEventListener("click", () => this.host.open(path));
      this.list.append(h("li", {}, button));
    }
  }
}
