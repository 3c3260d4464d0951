// Suggestions as ghost text in the editor: a widget at each open suggestion's anchor, marked with
// the model's name, growing while the agent streams; accept/reject by mouse or keyboard
// (Tab / Alt+Enter accept, Esc / Alt+Backspace reject when the cursor is at the suggestion).
import { Prec, StateEffect, StateField, type Extension, type Transaction } from "@codemirror/state";
import { Decoration, EditorView, keymap, WidgetType, type DecorationSet, type ViewUpdate } from "@codemirror/view";
import { ySyncAnnotation } from "y-codemirror.next";
import type { Suggestion } from "../workspace.js";
import { h } from "./dom.js";

export interface Ghost {
  id: string;
  pos: number;
  text: string;
  status: Suggestion["status"];
  model: string;
  note: string; // who is doing what ("ai is writing for Ada"), or why it stopped
  decidable: boolean; // Accept/Reject buttons: a read-only member has none (the hub can change our role)
}

export interface GhostActions {
  accept(id: string): void;
  reject(id: string): void;
  /** A local edit touched the line of these open suggestions: they no longer fit the code. */
  stale(ids: string[]): void;
  canDecide(): boolean;
}

export const setGhosts = StateEffect.define<Ghost[]>();
const OPEN = new Set(["requested", "streaming", "ready", "stale", "error"]);
const WATCHED = new Set(["requested", "streaming", "ready"]);

class GhostWidget extends WidgetType {
  constructor(readonly ghost: Ghost, readonly actions: GhostActions) {
    super();
  }

  override eq(other: GhostWidget): boolean {
    const a = this.ghost;
    const b = other.ghost;
    return a.id === b.id && a.text === b.text && a.status === b.status && a.model === b.model && a.note === b.note && a.decidable === b.decidable;
  }

  toDOM(): HTMLElement {
    const g = this.ghost;
    const label = g.model ? `${g.model}` : "AI";
    const meta = h("span", { class: "cm-ghost-meta" }, h("span", { class: "cm-ghost-model" }, label), " ", h("span", { class: "cm-ghost-note" }, g.note));
    if (g.decidable) {
      const button = (text: string, cls: string, act: () => void, title: string) => {
        const b = h("button", { type: "button", class: `cm-ghost-btn ${cls}`, title, "aria-label": `${text} suggestion from ${label}` }, text);
        b.addEventListener("mousedown", (e) => e.preventDefault()); // keep the editor's focus and selection
        b.addEventListener("click", (e) => {
          e.preventDefault();
          act();
        });
        return b;
      };
      if (g.status === "ready") meta.append(button("Accept", "accept", () => this.actions.accept(g.id), "Accept (Tab or Alt+Enter at the suggestion)"));
      meta.append(button(g.status === "ready" || g.status === "streaming" || g.status === "requested" ? "Reject" : "Dismiss", "reject", () => this.actions.reject(g.id), "Reject (Esc or Alt+Backspace at the suggestion)"));
    }
    return h(
      "span",
      { class: `cm-ghost cm-ghost-${g.status}`, "data-suggestion": g.id, "data-status": g.status, role: "note", "aria-label": `Suggestion from ${label}, ${g.status}` },
      g.text ? h("span", { class: "cm-ghost-text" }, g.text) : null,
      meta,
    );
  }

  override ignoreEvent(): boolean {
    return true;
  }
}

function decorations(ghosts: Ghost[], actions: GhostActions, length: number): DecorationSet {
  const ranges = ghosts
    .filter((g) => OPEN.has(g.status) && g.pos >= 0 && g.pos <= length)
    .sort((a, b) => a.pos - b.pos)
    .map((g) => Decoration.widget({ widget: new GhostWidget(g, actions), side: 1 }).range(g.pos));
  return Decoration.set(ranges, true);
}

/** The suggestion the cursor is at (same position), else none. */
function atCursor(view: EditorView, ghosts: readonly Ghost[], statuses: Set<string>): Ghost | undefined {
  const sel = view.state.selection.main;
  if (!sel.empty) return undefined;
  return ghosts.find((g) => g.pos === sel.head && statuses.has(g.status));
}

/** For Alt+Enter/Alt+Backspace: the one at the cursor, else the nearest on the cursor's line. */
function nearest(view: EditorView, ghosts: readonly Ghost[], statuses: Set<string>): Ghost | undefined {
  const head = view.state.selection.main.head;
  const line = view.state.doc.lineAt(head);
  return ghosts
    .filter((g) => statuses.has(g.status) && g.pos >= line.from && g.pos <= line.to)
    .sort((a, b) => Math.abs(a.pos - head) - Math.abs(b.pos - head))[0];
}

export function ghostText(actions: GhostActions): Extension {
  const field = StateField.define<{ ghosts: Ghost[]; deco: DecorationSet }>({
    create: () => ({ ghosts: [], deco: Decoration.none }),
    update(value, tr: Transaction) {
      let { ghosts, deco } = value;
      if (tr.docChanged) {
        ghosts = ghosts.map((g) => ({ ...g, pos: tr.changes.mapPos(g.pos, 1) }));
        deco = deco.map(tr.changes);
      }
      for (const effect of tr.effects) {
        if (effect.is(setGhosts)) {
          ghosts = effect.value;
          deco = decorations(ghosts, actions, tr.state.doc.length);
        }
      }
      return { ghosts, deco };
    },
    provide: (f) => EditorView.decorations.from(f, (v) => v.deco),
  });
  const ready = new Set(["ready"]);
  const open = OPEN;
  const run = (pick: (view: EditorView) => Ghost | undefined, act: (id: string) => void) => (view: EditorView) => {
    if (!actions.canDecide()) return false;
    const g = pick(view);
    if (!g) return false;
    act(g.id);
    return true;
  };
  const keys = Prec.highest(
    keymap.of([
      { key: "Tab", run: run((v) => atCursor(v, v.state.field(field).ghosts, ready), actions.accept) },
      { key: "Escape", run: run((v) => atCursor(v, v.state.field(field).ghosts, open), actions.reject) },
      { key: "Alt-Enter", run: run((v) => nearest(v, v.state.field(field).ghosts, ready), actions.accept) },
      { key: "Alt-Backspace", run: run((v) => nearest(v, v.state.field(field).ghosts, open), actions.reject) },
    ]),
  );
  // An edit of one's own on a suggestion's line makes the suggestion stale for everyone (the agent
  // does the same while it streams). Remote edits are their authors' to judge.
  const watchEdits = EditorView.updateListener.of((update: ViewUpdate) => {
    if (!update.docChanged || !actions.canDecide()) return;
    if (update.transactions.every((tr) => tr.annotation(ySyncAnnotation) !== undefined)) return;
    const before = update.startState.field(field).ghosts.filter((g) => WATCHED.has(g.status));
    const touched: string[] = [];
    for (const g of before) {
      const line = update.startState.doc.lineAt(Math.min(g.pos, update.startState.doc.length));
      let hit = false;
      update.changes.iterChangedRanges((fromA, toA) => {
        if (fromA <= line.to && toA >= line.from) hit = true;
      });
      if (hit) touched.push(g.id);
    }
    // Not inside CodeMirror's update cycle: writing the Y doc dispatches back into the editor.
    if (touched.length) setTimeout(() => actions.stale(touched), 0);
  });
  return [field, keys, watchEdits, unscroll, ghostTheme];
}

// A wide ghost widens the line; reaching its buttons scrolls the editor sideways. Once the ghosts
// change (accepted, rejected, gone), scroll back to the start of the lines if the caret fits there,
// rather than staying scrolled and cutting the start of every line.
const unscroll = EditorView.updateListener.of((update: ViewUpdate) => {
  if (!update.transactions.some((tr) => tr.effects.some((e) => e.is(setGhosts)))) return;
  const view = update.view;
  view.requestMeasure({
    read: () => {
      const scroller = view.scrollDOM;
      if (scroller.scrollLeft === 0) return false;
      const caret = view.coordsAtPos(view.state.selection.main.head);
      const box = scroller.getBoundingClientRect();
      // Where the caret is from the scroller's left edge (gutter included) with no sideways scroll.
      return !!caret && caret.left - box.left + scroller.scrollLeft < scroller.clientWidth - 24;
    },
    write: (fits) => {
      if (fits) view.scrollDOM.scrollLeft = 0;
    },
  });
});

const ghostTheme = EditorView.theme({
  ".cm-ghost": { color: "var(--ghost)", whiteSpace: "pre-wrap", borderLeft: "2px solid var(--ai-line)", paddingLeft: "2px", marginLeft: "1px" },
  ".cm-ghost-text": { fontStyle: "italic", background: "var(--ghost-bg)" },
  ".cm-ghost-stale .cm-ghost-text, .cm-ghost-error .cm-ghost-text": { textDecoration: "line-through" },
  ".cm-ghost-meta": { fontFamily: "system-ui, sans-serif", fontSize: "0.75em", marginLeft: "6px", whiteSpace: "nowrap" },
  ".cm-ghost-model": { background: "#5b21b6", color: "#fff", borderRadius: "3px", padding: "0 4px" },
  ".cm-ghost-note": { color: "var(--muted)" },
  ".cm-ghost-btn": { fontSize: "1em", marginLeft: "4px", padding: "0 6px", cursor: "pointer", border: "1px solid var(--ai-line)", borderRadius: "3px", background: "var(--panel)", color: "var(--ai)" },
  ".cm-ghost-btn.accept": { background: "#5b21b6", color: "#fff" },
});
