// The room's AI suggestions as inline completions (ghost text), streaming: each `suggestion`
// notification for the active file asks VS Code to show them again. Tab inserts the text as typing;
// `Collab: Accept` accepts it through the room (the suggestion is marked accepted for everyone).
import * as vscode from "vscode";
import { CollabSession, InlineCompletion, OPEN_SUGGESTION } from "../core/session";
import { pathOf, SCHEME, toVsPosition } from "./convert";

export class Suggestions implements vscode.InlineCompletionItemProvider {
  constructor(private readonly session: CollabSession) {
    session.on("suggestion", (s) => {
      const active = vscode.window.activeTextEditor;
      if (active && active.document.uri.scheme === SCHEME && pathOf(active.document.uri) === s.path) {
        void vscode.commands.executeCommand("editor.action.inlineSuggest.trigger");
      }
    });
  }

  provideInlineCompletionItems(document: vscode.TextDocument, position: vscode.Position): vscode.InlineCompletionItem[] {
    const file = this.session.files.get(pathOf(document.uri));
    if (!file) return [];
    const items: vscode.InlineCompletionItem[] = [];
    for (const s of this.session.suggestions.values()) {
      if (s.path !== file.path || !OPEN_SUGGESTION.has(s.status) || !s.text || !s.position || !file.current(s)) continue;
      const anchor = toVsPosition(s.position);
      if (anchor.line !== position.line || anchor.character > position.character) continue;
      const typed = document.getText(new vscode.Range(anchor, position));
      if (!s.text.startsWith(typed)) continue;
      items.push(new vscode.InlineCompletionItem(s.text, new vscode.Range(anchor, position)));
    }
    return items;
  }
}

/**
 * Inline completions as you type (the bridge asks after a pause and keeps or withdraws the request,
 * docs/editor-protocol.md): each `inline` notification for the active file asks VS Code to show the
 * completion again. Tab is VS Code's own accept: it inserts the text as an edit of the buffer (so it
 * goes to everyone like typing), then `collab.inlineAccepted` tells the bridge to record it as
 * AI-assisted. Esc dismisses it (collab.dismissInline), and the agent stops the model.
 */
// What an auto-pairing editor inserts with an opener (collab/editor/inline.py has the same pairs).
const PAIRS: Record<string, string> = { "(": ")", "[": "]", "{": "}", '"': '"', "'": "'", "`": "`" };

interface Placed {
  range: vscode.Range;
  /** The line as it would read once accepted, with the document's version: what the person would see. */
  outcome: string;
}

/** Where completion `g` goes in `document` with the cursor at `position`, or null when it does not fit
 *  there (another line, or what was typed since the bridge saw the buffer is not its beginning). */
function place(document: vscode.TextDocument, position: vscode.Position, g: InlineCompletion): Placed | null {
  const anchor = toVsPosition(g.position);
  if (anchor.line !== position.line || anchor.character > position.character) return null;
  const typed = document.getText(new vscode.Range(anchor, position));
  if (!g.text.startsWith(typed)) return null;
  const line = document.lineAt(position.line).text;
  // Auto-closed brackets after the cursor that the completion has too: replaced, not doubled. The
  // bridge counts them (replace); for an opener typed since, VS Code's own closer right after it.
  let over = typed ? 0 : g.replace;
  const closer = typed ? PAIRS[typed[typed.length - 1]] : undefined;
  if (closer && line.slice(position.character, position.character + 1) === closer && g.text.slice(typed.length).includes(closer)) over = 1;
  if (position.character + over > line.length) over = 0;
  const end = position.translate(0, over);
  return {
    range: new vscode.Range(anchor, end),
    outcome: `${document.version}:${position.line}:${line.slice(0, anchor.character)}${g.text}${line.slice(end.character)}`,
  };
}

/**
 * Inline completions as you type (the bridge asks after a pause and keeps or withdraws the request,
 * docs/editor-protocol.md): each `inline` notification for the active file asks VS Code to show the
 * completion again. Tab is VS Code's own accept: it inserts the text as an edit of the buffer (so it
 * goes to everyone like typing), then `collab.inlineAccepted` tells the bridge to record it as
 * AI-assisted. Esc dismisses it (collab.dismissInline), and the agent stops the model.
 */
export class InlineGhost implements vscode.InlineCompletionItemProvider {
  private refreshing = false;
  private again = false;
  private provided = ""; // the outcome of the item VS Code got last: a notification that changes nothing shows nothing new

  constructor(private readonly session: CollabSession) {
    session.on("inline", (p: InlineCompletion) => {
      const active = vscode.window.activeTextEditor;
      if (active && active.document.uri.scheme === SCHEME && pathOf(active.document.uri) === p.path) void this.refresh();
    });
    session.on("inline_clear", (p: { path: string; reason: string }) => {
      const active = vscode.window.activeTextEditor;
      this.provided = "";
      if (p.reason !== "accepted" && active && active.document.uri.scheme === SCHEME && pathOf(active.document.uri) === p.path) {
        void vscode.commands.executeCommand("editor.action.inlineSuggest.hide");
      }
    });
  }

  /** Show the completion as it is now. VS Code asks a provider again at one place and document version
   *  only after its inline suggestion was hidden (an explicit trigger is otherwise satisfied by the last
   *  one), so a grown completion is hidden and triggered again; several updates meanwhile make one.
   *  (A Tab pressed in that moment is a Tab; the stable API has no other way to update a shown item.) */
  private async refresh(): Promise<void> {
    if (this.refreshing) {
      this.again = true;
      return;
    }
    this.refreshing = true;
    try {
      do {
        this.again = false;
        if (!this.stale()) break;
        await vscode.commands.executeCommand("editor.action.inlineSuggest.hide");
        await vscode.commands.executeCommand("editor.action.inlineSuggest.trigger");
      } while (this.again);
    } finally {
      this.refreshing = false;
    }
  }

  /** Does VS Code hold an item that reads otherwise than the completion now? It asks again by itself as
   *  the person types, so typing into the completion, or a `done` that adds nothing, needs no refresh. */
  private stale(): boolean {
    const g = this.session.inline;
    const active = vscode.window.activeTextEditor;
    if (!g || !active || active.document.uri.scheme !== SCHEME || pathOf(active.document.uri) !== g.path) return false;
    const placed = place(active.document, active.selection.active, g);
    return !placed || placed.outcome !== this.provided;
  }

  provideInlineCompletionItems(document: vscode.TextDocument, position: vscode.Position): vscode.InlineCompletionItem[] {
    const g = this.session.inline;
    const file = this.session.files.get(pathOf(document.uri));
    if (!g || !file || g.path !== file.path || !g.text) return [];
    const placed = place(document, position, g);
    if (!placed) return [];
    this.provided = placed.outcome;
    return [new vscode.InlineCompletionItem(g.text, placed.range, {
      command: "collab.inlineAccepted",
      title: "Record the accepted completion",
      arguments: [g.id],
    })];
  }
}
