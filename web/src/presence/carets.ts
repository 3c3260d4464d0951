// Other people's selections and carets in the editor, and ours published in presence; in place of
// y-codemirror.next's plugin, whose caret widget holds the name (and word joiners) as text nodes
// inside the editable content. Chrome's native editing (select all, replace, undo with a remote
// caret at the end of the last line) once carried those nodes out of the widget into a line, and
// CodeMirror read them back as typed text: "⁠⁠Bob⁠" ended up in the file for everyone. Here the
// widget has no text node at all: the name is an attribute, drawn by CSS (::after), so nothing of
// it can ever be read as document text. The widget is aria-hidden: a screen reader reading code
// hears the code, and the people list says who is where.
import * as Y from "yjs";
import type { Awareness } from "y-protocols/awareness";
import { RangeSet, type Extension, type Range } from "@codemirror/state";
import { Decoration, EditorView, ViewPlugin, WidgetType, type DecorationSet, type ViewUpdate } from "@codemirror/view";
import { yRemoteSelectionsTheme } from "y-codemirror.next";
import { presenceColor, presenceName } from "./peer.js";

type Changes = { added: number[]; updated: number[]; removed: number[] };

class CaretWidget extends WidgetType {
  constructor(readonly color: string, readonly name: string) {
    super();
  }

  override eq(other: CaretWidget): boolean {
    return other.color === this.color && other.name === this.name;
  }

  toDOM(): HTMLElement {
    const caret = document.createElement("span");
    caret.className = "cm-ySelectionCaret";
    caret.setAttribute("aria-hidden", "true");
    caret.style.backgroundColor = this.color;
    caret.style.borderColor = this.color;
    const dot = document.createElement("span");
    dot.className = "cm-ySelectionCaretDot";
    const info = document.createElement("span");
    info.className = "cm-ySelectionInfo";
    info.dataset.name = this.name; // drawn by ::after { content: attr(data-name) }
    info.style.color = readableOn(this.color);
    caret.append(dot, info);
    return caret;
  }

  override get estimatedHeight(): number {
    return -1;
  }

  override ignoreEvent(): boolean {
    return true;
  }
}

/** Black or white, whichever reads better on `hex` (#rrggbb): a light green label gets black text. */
function readableOn(hex: string): string {
  const [r, g, b] = [1, 3, 5].map((i) => {
    const c = parseInt(hex.slice(i, i + 2), 16) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  const luminance = 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
  return (luminance + 0.05) / 0.05 > 1.05 / (luminance + 0.05) ? "#000" : "#fff";
}

const relative = (json: unknown) => Y.createRelativePositionFromJSON(json);

class Carets {
  decorations: DecorationSet = RangeSet.empty;
  private readonly listener = ({ added, updated, removed }: Changes) => {
    const me = this.awareness.clientID;
    if ([...added, ...updated, ...removed].some((id) => id !== me)) this.view.dispatch({});
  };

  constructor(private readonly view: EditorView, private readonly ytext: Y.Text, private readonly awareness: Awareness) {
    awareness.on("change", this.listener);
  }

  destroy(): void {
    this.awareness.off("change", this.listener);
  }

  update(update: ViewUpdate): void {
    this.publish(update);
    this.decorations = this.draw(update);
  }

  /** Our selection into presence, as relative positions, while the editor has the focus. */
  private publish(update: ViewUpdate): void {
    const local = this.awareness.getLocalState() as { cursor?: { anchor: unknown; head: unknown } | null } | null;
    if (!local) return;
    const focused = update.view.hasFocus && update.view.dom.ownerDocument.hasFocus();
    if (!focused) return;
    const sel = update.state.selection.main;
    const anchor = Y.createRelativePositionFromTypeIndex(this.ytext, sel.anchor);
    const head = Y.createRelativePositionFromTypeIndex(this.ytext, sel.head);
    const now = local.cursor;
    if (now && Y.compareRelativePositions(relative(now.anchor), anchor) && Y.compareRelativePositions(relative(now.head), head)) return;
    this.awareness.setLocalStateField("cursor", { anchor, head });
  }

  private draw(update: ViewUpdate): DecorationSet {
    const doc = this.ytext.doc;
    if (!doc) return RangeSet.empty;
    const text = update.state.doc;
    const out: Range<Decoration>[] = [];
    for (const [clientId, state] of this.awareness.getStates()) {
      if (clientId === this.awareness.clientID) continue;
      const cursor = state.cursor as { anchor?: unknown; head?: unknown } | null | undefined;
      if (!cursor?.anchor || !cursor.head) continue;
      const anchor = Y.createAbsolutePositionFromRelativePosition(relative(cursor.anchor), doc);
      const head = Y.createAbsolutePositionFromRelativePosition(relative(cursor.head), doc);
      if (!anchor || !head || anchor.type !== this.ytext || head.type !== this.ytext) continue;
      const user = state.user as { name?: unknown; color?: unknown } | undefined;
      const color = presenceColor(user?.color);
      const name = presenceName(user?.name) ?? "Anonymous";
      const tint = { attributes: { style: `background-color: ${color}33` }, class: "cm-ySelection" };
      const start = Math.min(anchor.index, head.index, text.length);
      const end = Math.min(Math.max(anchor.index, head.index), text.length);
      const first = text.lineAt(start);
      const last = text.lineAt(end);
      if (first.number === last.number) {
        if (end > start) out.push(Decoration.mark(tint).range(start, end));
      } else {
        if (first.to > start) out.push(Decoration.mark(tint).range(start, first.to));
        if (end > last.from) out.push(Decoration.mark(tint).range(last.from, end));
        for (let i = first.number + 1; i < last.number; i++) {
          out.push(Decoration.line({ attributes: { style: `background-color: ${color}33`, class: "cm-yLineSelection" } }).range(text.line(i).from));
        }
      }
      const at = Math.min(head.index, text.length);
      // Outside their selection, on the side the selection is not.
      out.push(Decoration.widget({ side: head.index - anchor.index > 0 ? -1 : 1, widget: new CaretWidget(color, name) }).range(at));
    }
    return Decoration.set(out, true);
  }
}

const caretTheme = EditorView.baseTheme({
  ".cm-ySelectionCaretDot": { display: "block" },
  ".cm-ySelectionInfo": { display: "block" },
  ".cm-ySelectionInfo::after": { content: "attr(data-name)" },
});

/** Remote selections and carets for `ytext`, and our own cursor published in `awareness`. */
export function remoteCarets(ytext: Y.Text, awareness: Awareness): Extension {
  return [yRemoteSelectionsTheme, caretTheme, ViewPlugin.define((view) => new Carets(view, ytext, awareness), { decorations: (v) => v.decorations })];
}
