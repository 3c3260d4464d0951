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
