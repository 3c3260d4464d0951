// Search in all files (Ctrl+Shift+F), and replace in all of them as one change: one transaction
// for everyone, and one Undo (here, for whoever replaced) that puts every file back.
import * as Y from "yjs";
import type { Workspace } from "../workspace.js";
import { h } from "./dom.js";

const MAX_RESULTS = 200;

interface Hit {
  path: string;
  line: number;
  index: number;
  text: string;
}

/** Where `needle` occurs in each file, in path order (plain text, case-sensitive). */
export function findAll(ws: Workspace, needle: string): Hit[] {
  const hits: Hit[] = [];
  if (!needle) return hits;
  for (const path of ws.paths()) {
    const text = ws.text(path)?.toString() ?? "";
    for (let at = text.indexOf(needle); at >= 0; at = text.indexOf(needle, at + needle.length)) {
      const start = text.lastIndexOf("\n", at - 1) + 1;
      const end = text.indexOf("\n", at);
      hits.push({ path, index: at, line: text.slice(0, at).split("\n").length, text: text.slice(start, end < 0 ? undefined : end).trim().slice(0, 120) });
      if (hits.length >= MAX_RESULTS) return hits;
    }
  }
  return hits;
}

export class ProjectSearch {
  readonly el: HTMLDetailsElement;
  private readonly query = h("input", { id: "search-files", type: "text", autocomplete: "off" });
  private readonly replacement = h("input", { id: "replace-files", type: "text", autocomplete: "off" });
  private readonly replaceButton = h("button", { type: "button", id: "replace-all", class: "secondary small" }, "Replace all");
  private readonly undoButton = h("button", { type: "button", id: "undo-replace", class: "secondary small", hidden: true }, "Undo replace");
  private readonly status = h("p", { class: "muted small", id: "search-status", role: "status" });
  private readonly results = h("ul", { class: "search-results", id: "search-results", "aria-label": "Matches" });
  private undo: Y.UndoManager | null = null;

  constructor(private readonly ws: Workspace, private readonly canWrite: () => boolean, private readonly openAt: (path: string, line: number) => void) {
    this.el = h(
      "details",
      { class: "panel search", id: "project-search" },
      h("summary", {}, h("h2", { id: "search-heading" }, "Search in files (Ctrl+Shift+F)")),
      h("label", { for: "search-files" }, "Find"),
      this.query,
      h("label", { for: "replace-files" }, "Replace with"),
      this.replacement,
      h("div", { class: "row" }, this.replaceButton, this.undoButton),
      this.status,
      this.results,
    ) as HTMLDetailsElement;
    this.query.addEventListener("input", () => this.render());
    this.replaceButton.addEventListener("click", () => this.replaceAll());
    this.undoButton.addEventListener("click", () => {
      this.undo?.undo();
      this.dropUndo();
      this.status.textContent = "Replace undone.";
      this.render(false);
    });
    document.addEventListener("keydown", (e) => {
      if ((e.ctrlKey || e.metaKey) && e.shiftKey && !e.altKey && e.key.toLowerCase() === "f") {
        e.preventDefault();
        this.el.open = true;
        this.query.focus();
        this.query.select();
      }
    });
    ws.observeFiles(() => {
      if (this.el.open && this.query.value) this.render(false);
    });
  }

  private render(say = true): void {
    const needle = this.query.value;
    const hits = findAll(this.ws, needle);
    this.results.replaceChildren(
      ...hits.map((hit) => {
        const b = h("button", { type: "button", class: "search-hit", "data-path": hit.path, "data-line": hit.line }, h("span", { class: "where" }, `${hit.path}:${hit.line}`), " ", h("span", { class: "muted" }, hit.text));
        b.addEventListener("click", () => this.openAt(hit.path, hit.line));
        return h("li", {}, b);
      }),
    );
    const files = new Set(hits.map((x) => x.path)).size;
    this.replaceButton.disabled = !hits.length || !this.canWrite();
    if (say) this.status.textContent = !needle ? "" : hits.length ? `${hits.length}${hits.length >= MAX_RESULTS ? "+" : ""} match${hits.length === 1 ? "" : "es"} in ${files} file${files === 1 ? "" : "s"}` : "No matches";
  }

  private replaceAll(): void {
    const needle = this.query.value;
    const by = this.replacement.value;
    if (!needle || !this.canWrite()) return;
    const origin = { replaceAll: needle };
    const texts = this.ws.paths().map((p) => this.ws.text(p)).filter((t): t is Y.Text => !!t && t.toString().includes(needle));
    this.dropUndo();
    this.undo = new Y.UndoManager(texts, { trackedOrigins: new Set([origin]), captureTimeout: 0 });
    let count = 0;
    this.ws.doc.transact(() => {
      for (const text of texts) {
        const value = text.toString();
        const at: number[] = [];
        for (let i = value.indexOf(needle); i >= 0; i = value.indexOf(needle, i + needle.length)) at.push(i);
        // From the end, so the earlier indices stay where they are.
        for (const i of at.reverse()) {
          text.delete(i, needle.length);
          if (by) text.insert(i, by);
        }
        count += at.length;
      }
    }, origin);
    this.undoButton.hidden = false;
    this.status.textContent = `Replaced ${count} in ${texts.length} file${texts.length === 1 ? "" : "s"}.`;
    this.render(false);
  }

  private dropUndo(): void {
    this.undo?.destroy();
    this.undo = null;
    this.undoButton.hidden = true;
  }
}
