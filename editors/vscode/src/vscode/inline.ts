// The room's AI suggestions as inline completions (ghost text), streaming: each `suggestion`
// notification for the active file asks VS Code to show them again. Tab inserts the text as typing;
// `Collab: Accept` accepts it through the room (the suggestion is marked accepted for everyone).
import * as vscode from "vscode";
import { CollabSession, OPEN_SUGGESTION } from "../core/session";
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
export class InlineGhost implements vscode.InlineCompletionItemProvider {
  private refreshing = false;
  private again = false;

  constructor(private readonly session: CollabSession) {
    const here = (p: { path: string }) => {
      const active = vscode.window.activeTextEditor;
      return !!active && active.document.uri.scheme === SCHEME && pathOf(active.document.uri) === p.path;
    };
    session.on("inline", (p) => {
      if (here(p)) void this.refresh();
    });
    session.on("inline_clear", (p: { path: string; reason: string }) => {
      if (p.reason !== "accepted" && here(p)) void vscode.commands.executeCommand("editor.action.inlineSuggest.hide");
    });
  }

  /** Show the completion as it is now. VS Code asks a provider again at one place and document version
   *  only after its inline suggestion was hidden (an explicit trigger is otherwise satisfied by the last
   *  one), so a growing completion is hidden and triggered again; several updates meanwhile make one. */
  private async refresh(): Promise<void> {
    if (this.refreshing) {
      this.again = true;
      return;
    }
    this.refreshing = true;
    try {
      do {
        this.again = false;
        await vscode.commands.executeCommand("editor.action.inlineSuggest.hide");
        await vscode.commands.executeCommand("editor.action.inlineSuggest.trigger");
      } while (this.again && this.session.inline);
    } finally {
      this.refreshing = false;
    }
  }

  provideInlineCompletionItems(document: vscode.TextDocument, position: vscode.Position): vscode.InlineCompletionItem[] {
    const g = this.session.inline;
    const file = this.session.files.get(pathOf(document.uri));
    if (!g || !file || g.path !== file.path || !g.text) return [];
    // The completion starts at `position` as the bridge saw the buffer; characters typed since then
    // (on their way to the bridge) must be its beginning.
    const anchor = toVsPosition(g.position);
    if (anchor.line !== position.line || anchor.character > position.character) return [];
    const typed = document.getText(new vscode.Range(anchor, position));
    if (!g.text.startsWith(typed)) return [];
    let end = position;
    const line = document.lineAt(position.line).text;
    if (g.replace > 0 && position.character + g.replace <= line.length) {
      end = position.translate(0, g.replace); // the auto-closed bracket the completion already has
    }
    const item = new vscode.InlineCompletionItem(g.text, new vscode.Range(anchor, end), {
      command: "collab.inlineAccepted",
      title: "Record the accepted completion",
      arguments: [g.id],
    });
    return [item];
  }
}
