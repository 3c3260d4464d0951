// The session page (/s/<room>): files, editor, people, chat, links and connection status.
import * as Y from "yjs";
import { addressWithKey, stripKeyFromAddress } from "../crypto/fragment.js";
import { LinkError, parseLink, websocketUrl, type ParsedLink } from "../crypto/links.js";
import { Me, rememberName, storedName } from "../identity.js";
import { checkSupport, SECURE_CONTEXT_HELP } from "../support.js";
import { LocalCopy, type Restored } from "../storage/local.js";
import { EncryptedTransport } from "../transport/encrypted.js";
import { PlaintextTransport } from "../transport/plaintext.js";
import type { Transport } from "../transport/types.js";
import { Workspace } from "../workspace.js";
import { AgentsPanel } from "./agents.js";
import { Announcer } from "./announcer.js";
import { Assistant } from "./assistant.js";
import { ChatPanel } from "./chat.js";
import { CurrentFile } from "./current.js";
import { ask } from "./dialog.js";
import { h } from "./dom.js";
import { FileEditor } from "./editor.js";
import { FileTree } from "./files.js";
import { Follow } from "./follow.js";
import { hubSaysEncrypted, showLinkError, showMissingKey } from "./linkkey.js";
import { Notice } from "./notice.js";
import { PeoplePanel } from "./people.js";
import { quickOpen } from "./quickopen.js";
import { ProjectSearch } from "./search.js";
import { shortcutKey, shortcutsButton } from "./shortcuts.js";
import { Tabs } from "./tabs.js";
import { showProblem } from "./problem.js";
import { forgottenHere, topBar } from "./topbar.js";

export { showProblem };

async function askName(): Promise<string> {
  for (;;) {
    const name = await ask({ title: "Join the session", label: "Your name, as others will see it", submit: "Join", value: "" });
    if (name) return rememberName(name);
  }
}

export async function startSession(root: HTMLElement): Promise<void> {
  // A reload after the key left the address bar finds it where this tab kept it (crypto/fragment.ts).
  const href = addressWithKey();
  const hasKey = /#[kr]=/.test(new URL(href).hash);
  if (hasKey) {
    const support = await checkSupport();
    if (!support.ok) {
      showProblem(root, "This browser cannot open an encrypted session here", ...support.problems, SECURE_CONTEXT_HELP);
      return;
    }
  }
  let link: ParsedLink;
  try {
    link = await parseLink(href);
  } catch (err) {
    if (!(err instanceof LinkError)) throw err;
    await showLinkError(root, href, err);
    return;
  }
  if (link.keys) stripKeyFromAddress(href);
  if (!link.keys && (await hubSaysEncrypted(link))) {
    showMissingKey(root);
    return;
  }
  const name = storedName() ?? (await askName());
  const doc = new Y.Doc();
  // The copy this browser kept goes in before the transport exists: it is not a new local edit,
  // and only its unsent part goes to the hub (see EncryptedOptions.unsent).
  const { local, restored } = await restore(link);
  if (restored.state) Y.applyUpdate(doc, restored.state, local);
  const plaintext = link.keys ? null : new PlaintextTransport(doc, websocketUrl(link.serverBase, link.room).replace(/\/[^/]+$/, ""), link.room);
  const transport: Transport =
    plaintext ?? new EncryptedTransport(doc, link.keys!, websocketUrl(link.serverBase, link.room), { roomsApi: `${link.serverBase}/api/rooms`, unsent: restored.unsent });
  const me = new Me(transport.awareness, name);
  // After a rotation (docs/e2ee.md "Rotation") the copy-link buttons give the new epoch's links.
  if (transport instanceof EncryptedTransport) transport.onRotated((keys) => (link.keys = keys));
  local?.attach(transport);
  window.addEventListener("pagehide", () => {
    local?.saveNow();
    transport.destroy();
  });
  new SessionPage(root, link, transport, me, local, restored.state !== null).mount();
  // The hub could not be asked before (offline, say), so its refusal is what says the room is encrypted.
  let told = false;
  plaintext?.onChange(() => {
    if (!plaintext.encryptedRoom || told) return;
    told = true;
    plaintext.destroy();
    // The copy this page began is of nothing; one that was here before is left alone.
    if (!restored.state) local?.forget().catch(() => {});
    showMissingKey(root);
  });
}

async function restore(link: ParsedLink): Promise<{ local: LocalCopy | null; restored: Restored }> {
  // "Forget on this device" in this tab: a reload keeps no new copy either (topbar.ts).
  if (forgottenHere(link.room)) return { local: null, restored: { state: null, unsent: null } };
  try {
    const local = await LocalCopy.open(link.serverBase, link.room, link.keys);
    return { local, restored: (await local?.load()) ?? { state: null, unsent: null } };
  } catch (err) {
    // Storage blocked or broken: the session works as before, from the hub alone.
    console.warn(`collab: no copy of the room in this browser: ${(err as Error).message}`);
    return { local: null, restored: { state: null, unsent: null } };
  }
}

/** The page once the room is open: builds the panels and lays them out; each panel listens to what it shows. */
class SessionPage {
  constructor(
    private readonly root: HTMLElement,
    private readonly link: ParsedLink,
    private readonly transport: Transport,
    private readonly me: Me,
    private readonly local: LocalCopy | null,
    private readonly restored: boolean,
  ) {}

  mount(): void {
    const { link, transport: t, me, local } = this;
    const ws = new Workspace(t.doc, () => me.name);
    const notice = new Notice();
    const say = notice.say;
    const announcer = new Announcer();
    const editorHost = h("div", { class: "editor", id: "editor" });
    const assistant: Assistant = new Assistant(ws, t.awareness, {
      view: () => editor.view,
      path: () => editor.path,
      ytext: () => editor.ytext,
      name: () => me.name,
      canWrite: () => t.canWrite,
      say,
      announce: (message) => announcer.say(message),
    });
    const editor: FileEditor = new FileEditor(editorHost, t.awareness, t, t.canWrite, assistant.extension());
    const current = new CurrentFile(ws, editor, say, () => t.synced || this.restored, link.room);
    const follow = new Follow(t.awareness, current, editor);
    editor.acted.add(() => follow.stop());
    const openFile = (path: string) => {
      follow.stop();
      current.open(path);
    };
    const tabs = new Tabs(ws, current, (path) => {
      follow.stop();
      current.open(path);
    });
    const tree = new FileTree(ws, t.awareness, {
      current: () => current.path,
      open: openFile,
      canWrite: () => t.canWrite,
      focusEditor: () => editor.view.focus(),
      quickOpen: () => quickOpen(ws.paths(), (path) => (openFile(path), editor.view.focus())),
      say,
    });
    shortcutKey();
    const search = new ProjectSearch(ws, () => t.canWrite, (path, line) => {
      openFile(path);
      if (current.path === path) editor.goToLine(line);
    });
    // Ctrl+P (Cmd+P) anywhere on the page: quick open, not the browser's print dialog.
    document.addEventListener("keydown", (e) => {
      if ((e.ctrlKey || e.metaKey) && !e.altKey && !e.shiftKey && e.key.toLowerCase() === "p") {
        e.preventDefault();
        quickOpen(ws.paths(), (path) => (openFile(path), editor.view.focus()));
      }
    });
    const peoplePanel = new PeoplePanel(t.awareness, ws, announcer, follow);
    const chat = new ChatPanel(
      ws,
      () => me.name,
      t.canWrite,
      {
        insert: (code) => {
          if (!editor.insertAtCursor(code, false)) say("Open a file you can edit to insert code.");
        },
        replace: (code) => {
          if (editor.view.state.selection.main.empty) say("Select the code to replace in the editor first.");
          else if (!editor.insertAtCursor(code)) say("Open a file you can edit to insert code.");
        },
        selection: () => {
          const sel = editor.view.state.selection.main;
          return editor.path ? editor.view.state.sliceDoc(sel.from, sel.to) : "";
        },
      },
      {
        isFile: (path) => ws.has(path),
        openAt: (path, line) => {
          openFile(path);
          if (current.path === path) editor.goToLine(line);
        },
      },
      announcer,
    );
    const agentsPanel = new AgentsPanel(link.serverBase, () => link.keys, ws, t.awareness, () => me.name, () => t.canWrite);

    current.onOpen(() => {
      assistant.refresh();
      tree.render();
    });
    // Others' people lists mark a read-only viewer as one (presence/peer.ts reads `kind`).
    const publishKind = () => {
      const kind = t.canWrite ? null : "viewer";
      if ((t.awareness.getLocalState() as { kind?: unknown } | null)?.kind !== kind) t.awareness.setLocalStateField("kind", kind);
    };
    publishKind();
    t.onChange(() => {
      publishKind();
      // The first page that can write brings a schema-1 room to schema 2, once it has the hub's history.
      if (t.synced && t.canWrite && ws.schema() < 2) ws.migrate();
      if (t.synced && t.canWrite) ws.followLegacy(); // an older client's edits reach schema 2 from now on
      if (t.synced && t.canWrite) ws.expireTrash(); // the room's settings.trash_days, if set
      editor.setWritable(t.canWrite); // the hub decided our role (READY, or a "forbidden" NACK)
      assistant.schedule();
      current.openFirst();
      tree.render();
    });
    t.onWarning(say);

    this.root.replaceChildren(
      topBar({ link, transport: t, local, me, say }),
      h(
        "main",
        { class: "layout" },
        h("nav", { class: "side", "aria-label": "Files and people" }, tree.el, search.el, peoplePanel.el, agentsPanel.el),
        h(
          "section",
          { class: "work", "aria-labelledby": "editor-heading" },
          current.heading,
          tabs.el,
          assistant.toolbar,
          follow.banner,
          editorHost,
          h("div", { class: "row editor-help" }, h("p", { id: "editor-help", class: "muted small" }, "In the editor, Tab indents. Press Esc, then Tab, to move on."), shortcutsButton()),
          notice.el,
        ),
        chat.el,
      ),
      announcer.el,
    );
    current.openFirst(); // a copy kept in this browser is already in the document
    tree.render();
  }
}
