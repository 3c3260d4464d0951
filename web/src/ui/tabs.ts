// Tabs: the files you opened in this tab, to go back and forth; × closes one (closing the open
// file opens its neighbour). Files deleted or renamed by anyone drop out (a rename shows the new name
// once it is opened again).
import type { Workspace } from "../workspace.js";
import type { CurrentFile } from "./current.js";
import { h } from "./dom.js";

const MAX_TABS = 12;

export class Tabs {
  readonly el = h("ul", { class: "tabs", id: "file-tabs", "aria-label": "Open files" });
  private paths: string[] = [];

  constructor(private readonly ws: Workspace, private readonly current: CurrentFile, private readonly open: (path: string | null) => void) {
    current.onOpen(() => {
      const path = current.path;
      if (path && !this.paths.includes(path)) {
        this.paths.push(path);
        if (this.paths.length > MAX_TABS) this.paths.splice(this.paths.findIndex((p) => p !== path), 1);
      }
      this.render();
    });
    ws.observeFiles(() => {
      const kept = this.paths.filter((p) => ws.text(p));
      if (kept.length !== this.paths.length) {
        this.paths = kept;
        this.render();
      }
    });
  }

  private close(path: string): void {
    const at = this.paths.indexOf(path);
    this.paths.splice(at, 1);
    if (this.current.path === path) this.open(this.paths[Math.min(at, this.paths.length - 1)] ?? null);
    this.render();
  }

  private render(): void {
    const open = this.current.path;
    this.el.replaceChildren(
      ...this.paths.map((path) => {
        const name = path.split("/").pop()!;
        const tab = h("button", { type: "button", class: "tab", "data-path": path, title: path, "aria-current": path === open ? "page" : undefined }, name);
        tab.addEventListener("click", () => this.open(path));
        const close = h("button", { type: "button", class: "tab-close", "aria-label": `Close ${path}`, title: `Close ${path}` }, "×");
        close.addEventListener("click", () => this.close(path));
        return h("li", {}, tab, close);
      }),
    );
    this.el.hidden = this.paths.length === 0;
  }
}
