// The file tree: every path in the workspace as folders and files, with who is in which file;
// folders collapse, a file can be created in a folder; create, rename, delete.
import type { Awareness } from "y-protocols/awareness";
import type { Workspace } from "../workspace.js";
import { validatePath } from "../workspace.js";
import { ask, confirmAction } from "./dialog.js";
import { clear, h } from "./dom.js";
import { people, type Person } from "./people.js";
import { TrashList } from "./trash.js";

export interface FilesHost {
  current(): string | null;
  /** The person picked a file: open it (and stop following whoever they followed). */
  open(path: string): void;
  canWrite(): boolean;
  /** After creating a file: the caret goes into it, ready to type. */
  focusEditor?(): void;
  /** Ctrl+P's file picker. */
  quickOpen?(): void;
  /** The notice line under the editor. */
  say?(message: string): void;
}

interface Folder {
  folders: Map<string, Folder>;
  files: string[];
}

/** Paths into nested folders, in the order given. */
export function folderTree(paths: readonly string[]): Folder {
  const root: Folder = { folders: new Map(), files: [] };
  for (const path of paths) {
    const parts = path.split("/");
    let at = root;
    for (const part of parts.slice(0, -1)) {
      let next = at.folders.get(part);
      if (!next) at.folders.set(part, (next = { folders: new Map(), files: [] }));
      at = next;
    }
    at.files.push(path);
  }
  return root;
}

export class FileTree {
  readonly el: HTMLElement;
  private list = h("ul", { class: "files", id: "file-list", "aria-label": "Files" });
  private newBtn = h("button", { type: "button", id: "new-file" }, "New file");
  private renameBtn = h("button", { type: "button", id: "rename-file", class: "secondary" }, "Rename");
  private deleteBtn = h("button", { type: "button", id: "delete-file", class: "secondary" }, "Delete");
  private trash: TrashList;
  private heading = h("h2", { id: "files-heading", title: "Drop a file here to move it to the top level" }, "Files");
  /** Folders the person closed, by path; everything else is open. */
  private readonly collapsed = new Set<string>();

  constructor(private readonly ws: Workspace, private readonly awareness: Awareness, private readonly host: FilesHost) {
    this.trash = new TrashList(ws, () => host.canWrite(), (path) => host.open(path));
    this.el = h(
      "section",
      { class: "panel", "aria-labelledby": "files-heading" },
      this.heading,
      h("div", { class: "row" }, this.newBtn, this.renameBtn, this.deleteBtn),
      host.quickOpen ? h("button", { type: "button", id: "quick-open", class: "secondary small", title: "Open a file by typing part of its name", onclick: () => host.quickOpen?.() }, "Go to file… (Ctrl+P)") : null,
      this.list,
      this.trash.el,
    );
    this.dropTarget(this.heading, "");
    this.newBtn.addEventListener("click", () => void this.create());
    this.renameBtn.addEventListener("click", () => void this.rename());
    this.deleteBtn.addEventListener("click", () => void this.remove());
    ws.observeFiles(() => this.render());
    awareness.on("change", () => this.render()); // who is in which file
  }

  /** Files dropped on `el` move into `folder` ("" for the top level), keeping their names. */
  private dropTarget(el: HTMLElement, folder: string): void {
    el.addEventListener("dragover", (e) => {
      if (!this.host.canWrite() || !e.dataTransfer?.types.includes("application/x-collab-path")) return;
      e.preventDefault();
      e.dataTransfer.dropEffect = "move";
      el.classList.add("drop-here");
    });
    el.addEventListener("dragleave", () => el.classList.remove("drop-here"));
    el.addEventListener("drop", (e) => {
      el.classList.remove("drop-here");
      const from = e.dataTransfer?.getData("application/x-collab-path");
      if (!from || !this.host.canWrite()) return;
      e.preventDefault();
      const to = (folder ? `${folder}/` : "") + from.split("/").pop()!;
      if (to === from) return;
      const problem = this.check(to);
      if (problem) return void this.host.say?.(`Cannot move ${from} to ${to}: ${problem}`);
      const wasOpen = this.host.current() === from;
      this.ws.rename(from, to);
      if (wasOpen) this.host.open(to);
    });
  }

  private check(value: string, exclude: string | null = null): string | null {
    try {
      validatePath(value);
    } catch (err) {
      return (err as Error).message;
    }
    return value !== exclude && this.ws.has(value) ? `${value} already exists` : null;
  }

  private async create(folder = ""): Promise<void> {
    const path = await ask({
      title: folder ? `New file in ${folder}/` : "New file",
      label: "File path (for example src/app.py)",
      submit: "Create",
      value: folder ? `${folder}/` : "",
      keep: !!folder,
      validate: (v) => this.check(v),
    });
    if (!path) return;
    this.ws.create(path);
    this.host.open(path);
    this.host.focusEditor?.();
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
    const id = this.ws.delete(path);
    if (id !== undefined) this.trash.deleted(id, path); // "Deleted x. Undo", and Ctrl+Z, for the one who deleted it
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
    this.fill(this.list, folderTree(paths), "", others, current, writable);
  }

  private fill(list: HTMLElement, folder: Folder, prefix: string, others: Person[], current: string | null, writable: boolean): void {
    for (const [name, sub] of [...folder.folders].sort(([a], [b]) => a.localeCompare(b))) {
      const path = prefix + name;
      const open = !this.collapsed.has(path);
      const toggle = h("button", { type: "button", class: "folder", "aria-expanded": String(open), "data-folder": path }, h("span", { class: "twisty", "aria-hidden": "true" }, open ? "▾" : "▸"), h("span", { class: "path" }, `${name}/`));
      toggle.addEventListener("click", () => {
        if (open) this.collapsed.add(path);
        else this.collapsed.delete(path);
        this.render();
        (this.list.querySelector(`button.folder[data-folder="${CSS.escape(path)}"]`) as HTMLElement | null)?.focus();
      });
      const row = h("div", { class: "folder-row" }, toggle);
      this.dropTarget(row, path);
      if (writable) {
        const add = h("button", { type: "button", class: "secondary small new-in", "aria-label": `Add a file to ${path}/`, title: `Add a file to ${path}/` }, "+");
        add.addEventListener("click", () => void this.create(path));
        row.append(add);
      }
      const item = h("li", { class: "folder-item" }, row);
      if (open) {
        const inner = h("ul", { class: "files nested", "aria-label": `${path}/` });
        this.fill(inner, sub, `${path}/`, others, current, writable);
        item.append(inner);
      }
      list.append(item);
    }
    for (const path of folder.files) {
      const here = others.filter((p) => p.file === path);
      const label = here.length ? `${path}, open by ${here.map((p) => p.name).join(", ")}` : path;
      const button = h(
        "button",
        { type: "button", class: "file", "aria-current": path === current ? "true" : undefined, "aria-label": label, title: path, "data-path": path },
        h("span", { class: "path" }, path.slice(prefix.length)),
        ...here.map((p) => {
          const dot = h("span", { class: "dot", title: p.name, "aria-hidden": "true" });
          dot.style.background = p.color;
          return dot;
        }),
      );
      button.addEventListener("click", () => this.host.open(path));
      if (writable) {
        // Drag a file onto a folder (or onto "Files" for the top level) to move it there.
        button.draggable = true;
        button.addEventListener("dragstart", (e) => {
          e.dataTransfer?.setData("application/x-collab-path", path);
          if (e.dataTransfer) e.dataTransfer.effectAllowed = "move";
        });
      }
      list.append(h("li", {}, button));
    }
  }
}
