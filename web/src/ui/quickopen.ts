// Quick open (Ctrl+P): type part of a path, arrows pick, Enter opens. A <dialog> with a combobox
// and a listbox, so a screen reader hears the options as they filter.
import { h } from "./dom.js";

/** Paths whose letters contain `query`'s in order (src/app.py for "sap"), tightest match first. */
export function matchPaths(paths: readonly string[], query: string): string[] {
  const q = query.toLowerCase().replace(/\s+/g, "");
  if (!q) return [...paths];
  const scored: [number, string][] = [];
  for (const path of paths) {
    const p = path.toLowerCase();
    let at = -1;
    let first = -1;
    let ok = true;
    for (const c of q) {
      at = p.indexOf(c, at + 1);
      if (at < 0) {
        ok = false;
        break;
      }
      if (first < 0) first = at;
    }
    if (ok) scored.push([(p.includes(q) ? 0 : 1000) + (at - first) + path.length / 100, path]);
  }
  return scored.sort((a, b) => a[0] - b[0]).map(([, p]) => p);
}

export function quickOpen(paths: readonly string[], open: (path: string) => void): void {
  if (document.querySelector("dialog.quick-open")) return;
  const input = h("input", { id: "quick-open-input", type: "text", role: "combobox", autocomplete: "off", "aria-controls": "quick-open-list", "aria-expanded": "true", "aria-autocomplete": "list" });
  const list = h("ul", { id: "quick-open-list", role: "listbox", "aria-label": "Files" });
  const dialog = h("dialog", { class: "quick-open", "aria-labelledby": "quick-open-title" }, h("h2", { id: "quick-open-title" }, "Open a file"), h("label", { for: "quick-open-input" }, "File name (arrows pick, Enter opens)"), input, list);
  let shown: string[] = [];
  let index = 0;
  const draw = () => {
    shown = matchPaths(paths, input.value).slice(0, 50);
    index = Math.min(index, Math.max(shown.length - 1, 0));
    list.replaceChildren(
      ...shown.map((path, i) => {
        const option = h("li", { role: "option", id: `quick-open-${i}`, "aria-selected": String(i === index), "data-path": path }, path);
        option.addEventListener("mousedown", (e) => e.preventDefault());
        option.addEventListener("click", () => done(path));
        return option;
      }),
    );
    if (!shown.length) list.append(h("li", { class: "muted" }, "No file matches"));
    if (shown.length) input.setAttribute("aria-activedescendant", `quick-open-${index}`);
    else input.removeAttribute("aria-activedescendant");
  };
  const done = (path: string | null) => {
    dialog.close();
    dialog.remove();
    if (path) open(path);
  };
  input.addEventListener("input", () => {
    index = 0;
    draw();
  });
  input.addEventListener("keydown", (e) => {
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      index = (index + (e.key === "ArrowDown" ? 1 : -1) + shown.length) % Math.max(shown.length, 1);
      draw();
    } else if (e.key === "Enter") {
      e.preventDefault();
      done(shown[index] ?? null);
    }
  });
  dialog.addEventListener("cancel", (e) => {
    e.preventDefault();
    done(null);
  });
  document.body.append(dialog);
  draw();
  dialog.showModal();
  input.focus();
}
