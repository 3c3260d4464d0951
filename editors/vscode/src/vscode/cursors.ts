// Teammates' cursors and selections as decorations with their names. One decoration type per person
// (their colour): VS Code moves decorations with the text, so a cursor that is not current for the
// buffer (made before this editor's latest edit) is left where VS Code has moved it until a current
// one comes.
import * as vscode from "vscode";
import { CollabSession, RemoteCursor } from "../core/session";
import { pathOf, SCHEME, toVsPosition, toVsRange } from "./convert";

interface Look {
  caret: vscode.TextEditorDecorationType;
  selection: vscode.TextEditorDecorationType;
}

export class Cursors implements vscode.Disposable {
  private readonly looks = new Map<string, Look>(); // by client and colour
  private readonly subscriptions: vscode.Disposable[] = [];

  constructor(private readonly session: CollabSession) {
    const render = () => this.render();
    for (const event of ["cursor", "people", "revision"]) session.on(event, render);
    this.subscriptions.push(vscode.window.onDidChangeVisibleTextEditors(render));
  }

  private look(cursor: RemoteCursor): Look {
    const key = `${cursor.client}:${cursor.color}:${cursor.name}`;
    let look = this.looks.get(key);
    if (!look) {
      look = {
        caret: vscode.window.createTextEditorDecorationType({
          border: `0 0 0 2px solid ${cursor.color}`,
          after: { contentText: ` ${cursor.name} `, backgroundColor: cursor.color, color: "#ffffff", margin: "0 0 0 2px" },
          rangeBehavior: vscode.DecorationRangeBehavior.ClosedClosed,
        }),
        selection: vscode.window.createTextEditorDecorationType({ backgroundColor: `${cursor.color}40` }),
      };
      this.looks.set(key, look);
    }
    return look;
  }

  render(): void {
    for (const editor of vscode.window.visibleTextEditors) {
      if (editor.document.uri.scheme !== SCHEME) continue;
      const file = this.session.files.get(pathOf(editor.document.uri));
      const here = this.session.cursors.get(pathOf(editor.document.uri));
      const shown = new Set<string>();
      if (file && here) {
        for (const cursor of here.values()) {
          const look = this.look(cursor);
          shown.add(`${cursor.client}:${cursor.color}:${cursor.name}`);
          if (cursor.revision !== undefined && !file.current(cursor)) continue;
          const range = cursor.ranges[0];
          const head = toVsPosition(range.end);
          editor.setDecorations(look.caret, [new vscode.Range(head, head)]);
          editor.setDecorations(look.selection, [toVsRange(range)]);
        }
      }
      for (const [key, look] of this.looks) {
        if (shown.has(key)) continue;
        editor.setDecorations(look.caret, []);
        editor.setDecorations(look.selection, []);
      }
    }
  }

  dispose(): void {
    this.subscriptions.forEach((s) => s.dispose());
    for (const look of this.looks.values()) {
      look.caret.dispose();
      look.selection.dispose();
    }
  }
}
