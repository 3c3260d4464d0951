// collab for VS Code: the thin layer between VS Code and the session logic in ./core (which does not
// import vscode and is tested under Node against a real bridge and hub).
import * as os from "os";
import * as vscode from "vscode";
import { CollabSession } from "./core/session";
import { Buffers } from "./vscode/buffers";
import { fromVsPosition, pathOf, SCHEME, toVsPosition, uriOf } from "./vscode/convert";
import { Cursors } from "./vscode/cursors";
import { CollabFileSystem } from "./vscode/fs";
import { InlineGhost, Suggestions } from "./vscode/inline";
import { SessionView } from "./vscode/views";

class Controller implements vscode.Disposable {
  session: CollabSession | null = null;
  private joined: vscode.Disposable[] = [];
  readonly view = new SessionView(null);
  readonly statusItem = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Left);
  readonly output = vscode.window.createOutputChannel("collab");

  private setStatus(text: string): void {
    this.statusItem.text = `$(broadcast) collab: ${text}`;
    this.statusItem.show();
  }

  async join(link?: string, name?: string): Promise<void> {
    if (this.session) {
      void vscode.window.showErrorMessage("collab: already in a session: Collab: Leave first");
      return;
    }
    const config = vscode.workspace.getConfiguration("collab");
    link ??= await vscode.window.showInputBox({ prompt: "Session link (the secret stays on this machine)", password: true, ignoreFocusOut: true });
    if (!link) return;
    name ??= await vscode.window.showInputBox({ prompt: "Your name", value: config.get<string>("name") || os.userInfo().username, ignoreFocusOut: true });
    if (!name) return;
    const command = config.get<string[]>("bridgeCommand") ?? ["collab", "editor"];
    const session = new CollabSession({ command });
    this.session = session;
    session.on("exit", (code: number | null, stderr: string) => {
      if (this.session === session) {
        this.output.appendLine(`the bridge exited (${code}): ${stderr}`);
        if (code !== 0) void vscode.window.showErrorMessage(`collab: the bridge exited (${code}): ${stderr}`);
        this.teardown();
      }
    });
    this.setStatus("joining");
    try {
      await session.start();
      const joined = await session.join(link, name, config.get<string>("color") || undefined);
      this.wire(session, joined.read_only);
      await this.inlineSetting(session);
      // The first status notification may have come with the join's answer, before wire() listened.
      this.setStatus(`${session.status?.state ?? "connected"}${joined.read_only ? " (read-only)" : ""}`);
      vscode.window.showInformationMessage(`collab: joined ${joined.room} as ${joined.name}${joined.read_only ? " (read-only)" : ""}`);
    } catch (error: any) {
      void vscode.window.showErrorMessage(`collab: ${error.message}`);
      await this.leave();
    }
  }

  private wire(session: CollabSession, readOnly: boolean): void {
    const buffers = new Buffers(session);
    const cursors = new Cursors(session);
    this.joined = [
      buffers,
      cursors,
      vscode.workspace.registerFileSystemProvider(SCHEME, new CollabFileSystem(session, buffers), { isCaseSensitive: true, isReadonly: readOnly }),
      vscode.languages.registerInlineCompletionItemProvider({ scheme: SCHEME }, new Suggestions(session)),
      vscode.languages.registerInlineCompletionItemProvider({ scheme: SCHEME }, new InlineGhost(session)),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration("collab.inlineCompletions")) void this.inlineSetting(session);
      }),
      vscode.window.onDidChangeTextEditorSelection((e) => {
        if (e.textEditor.document.uri.scheme !== SCHEME) return;
        const file = session.files.get(pathOf(e.textEditor.document.uri));
        const selection = e.selections[0];
        if (file && selection) {
          void session.cursor(file, [{ start: fromVsPosition(selection.anchor), end: fromVsPosition(selection.active) }]).catch(() => undefined);
        }
      }),
    ];
    this.view.use(session);
    session.on("status", (p) => {
      this.setStatus(`${p.state}${p.read_only ? " (read-only)" : ""}`);
      this.output.appendLine(`status: ${p.state}${p.reason ? ": " + p.reason : ""}`);
    });
    session.on("chat", (m) => {
      if (m.kind === "human" && m.author !== session.joined?.name) void vscode.window.showInformationMessage(`${m.author}: ${m.text}`);
    });
    session.on("log", (message) => this.output.appendLine(String(message?.message ?? message)));
    session.on("closed", (p) => void vscode.window.showWarningMessage(`collab: ${p.path}: ${p.reason}`));
    session.on("follow", (p) => void this.followed(p));
  }

  private async inlineSetting(session: CollabSession): Promise<void> {
    const on = vscode.workspace.getConfiguration("collab").get<boolean>("inlineCompletions") ?? true;
    await session.inlineEnable(on).catch((e) => this.output.appendLine(`inline completions: ${e.message}`));
  }

  async inlineAccepted(id: string): Promise<void> {
    await this.session?.inlineAccept(id, true).catch((e) => this.output.appendLine(`inline completion: ${e.message}`));
  }

  async dismissInline(): Promise<void> {
    await vscode.commands.executeCommand("editor.action.inlineSuggest.hide");
    await this.session?.inlineDismiss().catch(() => undefined);
  }

  async restoreFromTrash(): Promise<void> {
    const session = this.need();
    if (!session) return;
    let entries;
    try {
      entries = await session.trash();
    } catch (e: any) {
      void vscode.window.showErrorMessage(`collab: ${e.message}`);
      return;
    }
    if (!entries.length) {
      void vscode.window.showInformationMessage("collab: the trash is empty");
      return;
    }
    const picked = await vscode.window.showQuickPick(
      entries.map((e) => ({ label: e.path, description: `deleted by ${e.by || "someone"}, ${new Date(e.ts * 1000).toLocaleString()}`, entry: e })),
      { placeHolder: "Restore which file?" },
    );
    if (!picked) return;
    try {
      const path = await session.restore(picked.entry.id);
      vscode.window.showInformationMessage(`collab: restored ${path}`);
      await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(uriOf(path)), { preview: false });
    } catch (e: any) {
      void vscode.window.showErrorMessage(`collab: ${e.message}`);
    }
  }

  private async followed(p: { name: string; path: string; position?: { line: number; character: number }; revision?: number; editor_revision?: number }): Promise<void> {
    const session = this.session;
    if (!session || session.following !== p.name) return;
    const document = await vscode.workspace.openTextDocument(uriOf(p.path));
    const editor = await vscode.window.showTextDocument(document, { preview: false });
    const file = session.files.get(p.path);
    if (p.position && file && file.current(p)) {
      const at = toVsPosition(p.position);
      editor.selection = new vscode.Selection(at, at);
      editor.revealRange(new vscode.Range(at, at), vscode.TextEditorRevealType.InCenterIfOutsideViewport);
    }
  }

  private teardown(): void {
    this.joined.forEach((d) => d.dispose());
    this.joined = [];
    this.session = null;
    this.view.use(null);
    this.setStatus("not in a session");
  }

  async leave(): Promise<void> {
    const session = this.session;
    if (!session) return;
    this.teardown();
    await session.stop();
  }

  need(): CollabSession | null {
    if (!this.session) void vscode.window.showErrorMessage("collab: not in a session: Collab: Join first");
    return this.session;
  }

  async open(path?: string): Promise<void> {
    const session = this.need();
    if (!session) return;
    path ??= await vscode.window.showQuickPick(session.paths, { placeHolder: "A session file" });
    if (!path) return;
    if (!session.paths.includes(path)) await session.create(path);
    await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(uriOf(path)), { preview: false });
  }

  async follow(name?: string): Promise<void> {
    const session = this.need();
    if (!session) return;
    name ??= await vscode.window.showQuickPick(session.people.map((p) => p.name), { placeHolder: "Follow whom?" });
    if (name) await session.follow(name).catch((e) => vscode.window.showErrorMessage(`collab: ${e.message}`));
  }

  async chat(text?: string): Promise<void> {
    const session = this.need();
    if (!session) return;
    text ??= await vscode.window.showInputBox({ prompt: "Message to the session (@ai asks the room's AI)" });
    if (text) await session.sendChat(text).catch((e) => vscode.window.showErrorMessage(`collab: ${e.message}`));
  }

  async askAI(): Promise<void> {
    const session = this.need();
    const editor = vscode.window.activeTextEditor;
    if (!session) return;
    const file = editor && editor.document.uri.scheme === SCHEME ? session.files.get(pathOf(editor.document.uri)) : undefined;
    if (!editor || !file) {
      void vscode.window.showErrorMessage("collab: this editor is not a session file");
      return;
    }
    await session.suggest(file, fromVsPosition(editor.selection.active)).catch((e) => vscode.window.showErrorMessage(`collab: ${e.message}`));
  }

  async decide(how: "accept" | "reject", id?: string): Promise<void> {
    const session = this.need();
    if (!session) return;
    id ??= session.latestOpenSuggestion()?.id;
    if (!id) {
      void vscode.window.showWarningMessage(`collab: no suggestion to ${how}`);
      return;
    }
    await session[how](id).catch((e) => vscode.window.showErrorMessage(`collab: ${e.message}`));
  }

  dispose(): void {
    void this.leave();
    this.statusItem.dispose();
    this.output.dispose();
  }
}

export function activate(context: vscode.ExtensionContext): Controller {
  const controller = new Controller();
  const command = (name: string, run: (...args: any[]) => unknown) =>
    context.subscriptions.push(vscode.commands.registerCommand(`collab.${name}`, run));
  command("join", (link?: string, name?: string) => controller.join(link, name));
  command("leave", () => controller.leave());
  command("open", (path?: string) => controller.open(path));
  command("follow", (name?: string) => controller.follow(name));
  command("unfollow", () => controller.session?.unfollow());
  command("chat", (text?: string) => controller.chat(text));
  command("askAI", () => controller.askAI());
  command("accept", (id?: string) => controller.decide("accept", id));
  command("reject", (id?: string) => controller.decide("reject", id));
  command("inlineAccepted", (id: string) => controller.inlineAccepted(id));
  command("dismissInline", () => controller.dismissInline());
  command("restoreFromTrash", () => controller.restoreFromTrash());
  context.subscriptions.push(vscode.window.registerTreeDataProvider("collab.session", controller.view), controller);
  return controller;
}

export function deactivate(): void {
  // The controller is in context.subscriptions: disposing it leaves the session.
}
