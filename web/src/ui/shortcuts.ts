// The keyboard shortcut list: a button under the editor, or "?" outside a text field.
import { h } from "./dom.js";

const KEYS: [string, string][] = [
  ["Ctrl+P", "Go to a file by typing part of its name"],
  ["Ctrl+F", "Search (and replace) in the open file"],
  ["Ctrl+Shift+F", "Search (and replace) in all files"],
  ["Alt+/", "Ask the AI for a suggestion at the cursor"],
  ["Tab / Alt+Enter", "Accept the AI's suggestion at the cursor"],
  ["Esc / Alt+Backspace", "Reject the AI's suggestion at the cursor"],
  ["Ctrl+Z / Ctrl+Shift+Z", "Undo / redo your own edits"],
  ["Tab", "In the editor: indent"],
  ["Esc, then Tab", "Leave the editor"],
  ["Enter / Shift+Enter", "In the chat: send / new line"],
  ["?", "This list"],
];

export function showShortcuts(): void {
  if (document.querySelector("dialog.shortcuts")) return;
  const close = h("button", { type: "button" }, "Close");
  const dialog = h(
    "dialog",
    { class: "shortcuts", "aria-labelledby": "shortcuts-title" },
    h("h2", { id: "shortcuts-title" }, "Keyboard shortcuts"),
    h("table", {}, h("tbody", {}, ...KEYS.map(([keys, what]) => h("tr", {}, h("th", { scope: "row" }, h("kbd", {}, keys)), h("td", {}, what))))),
    h("div", { class: "row" }, close),
  );
  const done = () => {
    dialog.close();
    dialog.remove();
  };
  close.addEventListener("click", done);
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  close.focus();
}

/** "?" anywhere but in a text field or the editor opens the list. */
export function shortcutKey(): void {
  document.addEventListener("keydown", (e) => {
    const target = e.target as HTMLElement | null;
    if (e.key !== "?" || e.ctrlKey || e.metaKey || e.altKey) return;
    if (target?.closest("input, textarea, [contenteditable=true], dialog")) return;
    e.preventDefault();
    showShortcuts();
  });
}

export function shortcutsButton(): HTMLButtonElement {
  const b = h("button", { type: "button", id: "show-shortcuts", class: "secondary small" }, "Keyboard shortcuts (?)");
  b.addEventListener("click", showShortcuts);
  return b;
}
