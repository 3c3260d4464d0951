// The side view: people, files and chat of the session.
import * as vscode from "vscode";
import { CollabSession } from "../core/session";
import { uriOf } from "./convert";

type Node = { kind: "group"; group: "people" | "files" | "chat" } | { kind: "leaf"; item: vscode.TreeItem };

export class SessionView implements vscode.TreeDataProvider<Node> {
  private readonly emitter = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.emitter.event;

  constructor(private session: CollabSession | null) {}

  use(session: CollabSession | null): void {
    this.session = session;
    for (const event of ["people", "files", "chat", "status"]) session?.on(event, () => this.emitter.fire());
    this.emitter.fire();
  }

  getTreeItem(node: Node): vscode.TreeItem {
    if (node.kind === "leaf") return node.item;
    const labels = { people: "People", files: "Files", chat: "Chat" };
    const item = new vscode.TreeItem(labels[node.group], vscode.TreeItemCollapsibleState.Expanded);
    item.id = `collab.${node.group}`;
    return item;
  }

  getChildren(node?: Node): Node[] {
    const s = this.session;
    if (!s) return [];
    if (!node) return [{ kind: "group", group: "people" }, { kind: "group", group: "files" }, { kind: "group", group: "chat" }];
    if (node.kind === "leaf") return [];
    const leaf = (item: vscode.TreeItem): Node => ({ kind: "leaf", item });
    if (node.group === "people") {
      return s.people.map((p) => {
        const item = new vscode.TreeItem(p.name);
        item.description = `${p.agent ? "AI · " : ""}${p.path ?? ""}`;
        item.iconPath = new vscode.ThemeIcon(p.agent ? "sparkle" : "person");
        item.command = { command: "collab.follow", title: "Follow", arguments: [p.name] };
        return leaf(item);
      });
    }
    if (node.group === "files") {
      return s.paths.map((path) => {
        const item = new vscode.TreeItem(path);
        item.resourceUri = uriOf(path);
        item.command = { command: "vscode.open", title: "Open", arguments: [uriOf(path)] };
        return leaf(item);
      });
    }
    return [...s.chat.values()].slice(-50).map((m) => {
      const item = new vscode.TreeItem(`${m.author}: ${m.text}`);
      item.tooltip = m.text;
      return leaf(item);
    });
  }
}
