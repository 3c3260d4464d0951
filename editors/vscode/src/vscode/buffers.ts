// Session files as VS Code documents: remote edits in (workspace.applyEdit, which VS Code refuses
// when the document changed since the version it was made for), local edits out.
import * as vscode from "vscode";
import { EditorBuffer, SessionFile } from "../core/file";
import { Change } from "../core/text";
import { CollabSession } from "../core/session";
import { changesOf, pathOf, SCHEME, toVsRange, uriOf } from "./convert";

class DocumentBuffer implements EditorBuffer {
  constructor(private readonly file: SessionFile) {}

  private document(): vscode.TextDocument | undefined {
    const uri = uriOf(this.file.path).toString();
    return vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri);
  }

  text(): string {
    return this.document()?.getText() ?? this.file.shadow;
  }

  async apply(changes: Change[]): Promise<boolean> {
    const document = this.document();
    if (!document || document.getText() !== this.file.shadow) return false;
    const edit = new vscode.WorkspaceEdit();
    // The bridge sends a notification's changes back to front, so each refers to the text before the
    // edit, which is what a WorkspaceEdit's ranges mean.
    for (const change of changes) edit.replace(document.uri, toVsRange(change.range), change.text);
    try {
      return await vscode.workspace.applyEdit(edit);
    } catch {
      return false; // "has changed in the meantime": the person typed first
    }
  }
}

export class Buffers implements vscode.Disposable {
  private readonly waiting = new Set<SessionFile>();
  private readonly subscriptions: vscode.Disposable[] = [];

  constructor(private readonly session: CollabSession) {
    this.subscriptions.push(
      vscode.workspace.onDidOpenTextDocument((d) => this.tryAttach(d)),
      vscode.workspace.onDidChangeTextDocument((e) => this.changed(e)),
      vscode.workspace.onDidCloseTextDocument((d) => {
        if (d.uri.scheme === SCHEME && this.session.files.has(pathOf(d.uri))) void this.session.close(pathOf(d.uri)).catch(() => undefined);
      }),
    );
  }

  /** A file just read by the file system provider: its remote edits flow once its document holds its text. */
  opened(file: SessionFile): void {
    this.waiting.add(file);
    const uri = uriOf(file.path).toString();
    const document = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri);
    if (document) this.tryAttach(document);
  }

  private tryAttach(document: vscode.TextDocument): void {
    if (document.uri.scheme !== SCHEME) return;
    const file = this.session.files.get(pathOf(document.uri));
    if (!file || !this.waiting.has(file) || document.getText() !== file.shadow) return;
    this.waiting.delete(file);
    file.attach(new DocumentBuffer(file));
  }

  private changed(event: vscode.TextDocumentChangeEvent): void {
    const document = event.document;
    if (document.uri.scheme !== SCHEME) return;
    const file = this.session.files.get(pathOf(document.uri));
    if (!file) return;
    if (this.waiting.has(file)) {
      this.tryAttach(document); // a reverted document taking the text read afresh
      return;
    }
    file.changed(document.getText(), changesOf(event));
  }

  dispose(): void {
    this.subscriptions.forEach((s) => s.dispose());
  }
}
