// The CodeMirror 6 editor bound to one file's Y.Text at a time, with remote cursors (yCollab).
import * as Y from "yjs";
import type { Awareness } from "y-protocols/awareness";
import { Compartment, EditorState, type Extension } from "@codemirror/state";
import { EditorView, keymap, lineNumbers, highlightActiveLine, highlightActiveLineGutter, drawSelection } from "@codemirror/view";
import { defaultKeymap, indentWithTab } from "@codemirror/commands";
import { bracketMatching, indentOnInput, syntaxHighlighting, HighlightStyle } from "@codemirror/language";
import { searchKeymap, highlightSelectionMatches } from "@codemirror/search";
import { closeBrackets, closeBracketsKeymap } from "@codemirror/autocomplete";
import { tags as t } from "@lezer/highlight";
import { python } from "@codemirror/lang-python";
import { javascript } from "@codemirror/lang-javascript";
import { markdown } from "@codemirror/lang-markdown";
import { json } from "@codemirror/lang-json";
import { html } from "@codemirror/lang-html";
import { css } from "@codemirror/lang-css";
import { yCollab, yUndoManagerKeymap } from "y-codemirror.next";
import { Listeners } from "../listeners.js";
import { remoteCarets } from "../presence/carets.js";
import { inlineCompletions } from "./inline_ghost.js";
import type { DirectMessages } from "../transport/types.js";

// What counts as acting on one's own in the editor: it ends following someone (follow.ts).
const OWN = ["input", "delete", "select", "move", "undo", "redo"];

export function languageFor(path: string): Extension {
  const ext = path.toLowerCase().split(".").pop() ?? "";
  switch (ext) {
    case "py":
    case "pyi":
      return python();
    case "js":
    case "mjs":
    case "cjs":
      return javascript();
    case "jsx":
      return javascript({ jsx: true });
    case "ts":
    case "mts":
    case "cts":
      return javascript({ typescript: true });
    case "tsx":
      return javascript({ typescript: true, jsx: true });
    case "md":
    case "markdown":
      return markdown();
    case "json":
      return json();
    case "html":
    case "htm":
      return html();
    case "css":
      return css();
    default:
      return [];
  }
}

// Colours from the page's CSS variables (app.css): at least 4.5:1 contrast on the editor's
// background in the light and the dark scheme alike (WCAG AA).
const highlight = HighlightStyle.define([
  { tag: t.keyword, color: "var(--hl-keyword)" },
  { tag: [t.name, t.deleted, t.character, t.macroName], color: "var(--hl-name)" },
  { tag: [t.propertyName], color: "var(--hl-property)" },
  { tag: [t.function(t.variableName), t.labelName], color: "var(--hl-function)" },
  { tag: [t.color, t.constant(t.name), t.standard(t.name)], color: "var(--hl-constant)" },
  { tag: [t.definition(t.name), t.separator], color: "var(--hl-name)" },
  { tag: [t.typeName, t.className, t.number, t.changed, t.annotation, t.modifier, t.self, t.namespace], color: "var(--hl-constant)" },
  { tag: [t.operator, t.operatorKeyword, t.url, t.escape, t.regexp, t.link, t.special(t.string)], color: "var(--hl-operator)" },
  { tag: [t.meta, t.comment], color: "var(--hl-comment)", fontStyle: "italic" },
  { tag: t.strong, fontWeight: "bold" },
  { tag: t.emphasis, fontStyle: "italic" },
  { tag: t.strikethrough, textDecoration: "line-through" },
  { tag: t.heading, fontWeight: "bold", color: "var(--hl-heading)" },
  { tag: [t.atom, t.bool, t.special(t.variableName)], color: "var(--hl-constant)" },
  { tag: [t.processingInstruction, t.string, t.inserted], color: "var(--hl-string)" },
  { tag: t.invalid, color: "var(--hl-invalid)" },
]);

// CodeMirror's own light/dark defaults (caret, selection, panels) follow the system's scheme.
const darkQuery = typeof matchMedia === "function" ? matchMedia("(prefers-color-scheme: dark)") : null;
const scheme = () => EditorView.darkTheme.of(!!darkQuery?.matches);

// Remote names stay visible (y-codemirror.next shows them on hover only): in pair programming
// you want to see at a glance whose cursor is whose.
const remoteNames = EditorView.theme({
  ".cm-ySelectionInfo": { opacity: "1", top: "-1.15em", fontSize: "0.75em", padding: "0 3px", color: "#fff", fontFamily: "system-ui, sans-serif" },
});

/** Read-only: the state refuses edits and the content is not editable (no caret, no IME). */
function access(writable: boolean): Extension {
  return [EditorState.readOnly.of(!writable), EditorView.editable.of(writable)];
}

// One EditorState per open file, as CodeMirror means a state (one document): y-codemirror.next's
// plugins bind their Y.Text once, when they are created, so a file switch is a new state, and with
// it that file's language, label and undo manager. What changes while a file stays open (the role
// the hub gives us) is a Compartment: reconfiguring it keeps the selection, scroll and undo history.
export class FileEditor {
  readonly view: EditorView;
  path: string | null = null;
  ytext: Y.Text | null = null;
  /** The person clicked, moved the caret or edited (not a remote change, not a scroll we made). */
  readonly acted = new Listeners<[]>();
  private readonly access = new Compartment();
  private readonly scheme = new Compartment();
  private readonly shared: Extension;
  private writable: boolean;

  constructor(
    parent: HTMLElement,
    private readonly awareness: Awareness,
    direct: DirectMessages,
    canWrite: boolean,
    extra: Extension = [],
  ) {
    this.writable = canWrite;
    this.shared = [
      lineNumbers(),
      highlightActiveLineGutter(),
      highlightActiveLine(),
      drawSelection(),
      indentOnInput(),
      bracketMatching(),
      closeBrackets(),
      highlightSelectionMatches(),
      syntaxHighlighting(highlight),
      remoteNames,
      EditorView.updateListener.of((u) => {
        if (u.transactions.some((tr) => OWN.some((e) => tr.isUserEvent(e)))) this.acted.emit();
      }),
      keymap.of([...closeBracketsKeymap, ...defaultKeymap, ...searchKeymap, ...yUndoManagerKeymap, indentWithTab]),
      extra,
      // Ghost text of our own at the cursor as we pause (the agent's inline completions, for us only).
      inlineCompletions({ awareness, direct, ytext: () => this.ytext, path: () => this.path, canWrite: () => this.writable }),
    ];
    this.view = new EditorView({ parent, state: this.stateFor(null, null) });
    this.focusable();
    darkQuery?.addEventListener("change", () => this.view.dispatch({ effects: this.scheme.reconfigure(scheme()) }));
  }

  private stateFor(path: string | null, ytext: Y.Text | null): EditorState {
    return EditorState.create({
      doc: ytext?.toString() ?? "",
      extensions: [
        this.shared,
        languageFor(path ?? ""),
        this.access.of(access(this.writable && !!path)),
        this.scheme.of(scheme()),
        EditorView.contentAttributes.of({ "aria-label": path ? `Contents of ${path}` : "No file open", "aria-describedby": "editor-help" }),
        // Sync and undo from y-codemirror.next; carets our own (presence/carets.ts: no name as text).
        ytext ? [yCollab(ytext, null, { undoManager: new Y.UndoManager(ytext) }), remoteCarets(ytext, this.awareness)] : [],
      ],
    });
  }

  open(path: string | null, ytext: Y.Text | null): void {
    this.path = path;
    this.ytext = ytext;
    this.awareness.setLocalStateField("cursor", null);
    this.awareness.setLocalStateField("file", path);
    this.view.setState(this.stateFor(path, ytext));
    this.focusable();
  }

  // A read-only editor's content takes no caret: the scroller itself takes the focus, so a long
  // line or file can still be scrolled from the keyboard (axe: scrollable-region-focusable).
  private focusable(): void {
    if (this.writable && this.path) this.view.scrollDOM.removeAttribute("tabindex");
    else this.view.scrollDOM.setAttribute("tabindex", "0");
  }

  /** The open file was renamed or moved: same text, the caret where it was, the new name. */
  retitle(path: string): void {
    const { anchor, head } = this.view.state.selection.main;
    this.path = path;
    this.awareness.setLocalStateField("file", path);
    this.view.setState(this.stateFor(path, this.ytext));
    const end = this.view.state.doc.length;
    this.view.dispatch({ selection: { anchor: Math.min(anchor, end), head: Math.min(head, end) } });
  }

  /** The hub decided our role (READY, or a "forbidden" NACK): the open file stays open, with its history. */
  setWritable(writable: boolean): void {
    if (writable === this.writable) return;
    this.writable = writable;
    this.view.dispatch({ effects: this.access.reconfigure(access(writable && !!this.path)) });
    this.focusable();
  }

  /** Replace the selection (or, `replace` false, insert at the cursor) with `text`: one edit, one undo step. */
  insertAtCursor(text: string, replace = true): boolean {
    if (!this.ytext || !this.writable) return false;
    const sel = this.view.state.selection.main;
    const from = replace ? sel.from : sel.head;
    const to = replace ? sel.to : sel.head;
    this.view.dispatch({ changes: { from, to, insert: text }, selection: { anchor: from + text.length }, scrollIntoView: true });
    return true;
  }

  /** The caret at the start of `line` (1-based, clamped), in view, the editor focused. */
  goToLine(line: number): void {
    const doc = this.view.state.doc;
    const at = doc.line(Math.min(Math.max(1, Math.floor(line)), doc.lines)).from;
    this.view.dispatch({ selection: { anchor: at }, effects: EditorView.scrollIntoView(at, { y: "center" }) });
    this.view.focus();
  }

  /** Scroll to where a followed participant's cursor is. */
  reveal(cursor: { head?: unknown } | null | undefined): void {
    if (!cursor?.head || !this.ytext?.doc) return;
    const pos = Y.createAbsolutePositionFromRelativePosition(Y.createRelativePositionFromJSON(cursor.head), this.ytext.doc);
    if (!pos || pos.type !== this.ytext) return;
    this.view.dispatch({ effects: EditorView.scrollIntoView(Math.min(pos.index, this.view.state.doc.length), { y: "center" }) });
  }
}
