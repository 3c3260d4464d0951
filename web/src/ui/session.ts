// The session page (/s/<room>): files, editor, people, chat, links and connection status.
import * as Y from "yjs";
import { LinkError, parseLink, readLink, websocketUrl, writeLink, type ParsedLink } from "../crypto/links.js";
import { identity, rememberName, storedName } from "../identity.js";
import { checkSupport, SECURE_CONTEXT_HELP } from "../support.js";
import { LocalCopy, type Restored } from "../storage/local.js";
import { EncryptedTransport } from "../transport/encrypted.js";
import { PlaintextTransport } from "../transport/plaintext.js";
import type { Transport } from "../transport/types.js";
import { Workspace } from "../workspace.js";
import { activityOf, agentsPresent, describe } from "../ai/activity.js";
import { AgentsPanel } from "./agents.js";
import { Announcer } from "./announcer.js";
import { Assistant } from "./assistant.js";
import { ChatPanel } from "./chat.js";
import { ask } from "./dialog.js";
import { h } from "./dom.js";
import { FileEditor } from "./editor.js";
import { FileTree } from "./files.js";
import { hubSaysEncrypted, showLinkError, showMissingKey } from "./linkkey.js";
import { people, PeoplePanel } from "./people.js";
import { homeHref, showProblem } from "./problem.js";
import { StatusLine } from "./status.js";

export { showProblem };

async function askName(): Promise<string> {
  for (;;) {
    const name = await ask({ title: "Join the session", label: "Your name, as others will see it", submit: "Join", value: "" });
    if (name) return rememberName(name);
  }
}

export async function startSession(root: HTMLElement): Promise<void> {
  const hasKey = /#[kr]=/.test(location.hash);
  if (hasKey) {
    const support = await checkSupport();
    if (!support.ok) {
      showProblem(root, "This browser cannot open an encrypted session here", ...support.problems, SECURE_CONTEXT_HELP);
      return;
    }
  }
  let link: ParsedLink;
  try {
    link = await parseLink(location.href);
  } catch (err) {
    if (!(err instanceof LinkError)) throw err;
    await showLinkError(root, location.href, err);
    return;
  }
  if (!link.keys && (await hubSaysEncrypted(link))) {
    showMissingKey(root);
    return;
  }
  const name = storedName() ?? (await askName());
  const me = identity(name);
  const doc = new Y.Doc();
  // The copy this browser kept goes in before the transport exists: it is not a new local edit,
  // and only its unsent part goes to the hub (see EncryptedOptions.unsent).
  const { local, restored } = await restore(link);
  if (restored.state) Y.applyUpdate(doc, restored.state, local);
  const plaintext = link.keys ? null : new PlaintextTransport(doc, websocketUrl(link.serverBase, link.room).replace(/\/[^/]+$/, ""), link.room);
  const transport: Transport =
    plaintext ?? new EncryptedTransport(doc, link.keys!, websocketUrl(link.serverBase, link.room), { roomsApi: `${link.serverBase}/api/rooms`, unsent: restored.unsent });
  transport.awareness.setLocalStateField("user", me);
  local?.attach(transport);
  window.addEventListener("pagehide", () => {
    local?.saveNow();
    transport.destroy();
  });
  new SessionPage(root, link, transport, me.name, local, restored.state !== null).mount();
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
  try {
    const local = await LocalCopy.open(link.serverBase, link.room, link.keys);
    return { local, restored: (await local?.load()) ?? { state: null, unsent: null } };
  } catch (err) {
    // Storage blocked or broken: the session works as before, from the hub alone.
    console.warn(`collab: no copy of the room in this browser: ${(err as Error).message}`);
    return { local: null, restored: { state: null, unsent: null } };
  }
}

class SessionPage {
  private ws: Workspace;
  private announcer = new Announcer();
  private editor!: FileEditor;
  private tree!: FileTree;
  private peoplePanel!: PeoplePanel;
  private assistant!: Assistant;
  private notice = h("p", { id: "notice", class: "notice", role: "status" });
  private fileHeading = h("h2", { id: "editor-heading" }, "No file open");
  private linkField = h("input", { id: "share-link", type: "text", readonly: true, "aria-label": "Link to share", placeholder: "Copy a link to show it here" });
  private openedFirst = false;
  private wasWritable: boolean;

  constructor(
    private readonly root: HTMLElement,
    private readonly link: ParsedLink,
    private readonly transport: Transport,
    private name: string,
    private readonly local: LocalCopy | null,
    private readonly restored: boolean,
  ) {
    this.ws = new Workspace(transport.doc);
    this.wasWritable = transport.canWrite;
  }

  mount(): void {
    const t = this.transport;
    const kind = !this.link.keys ? "Plaintext room: the server can read it" : t.canWrite ? "End-to-end encrypted" : "End-to-end encrypted, read-only";
    const status = new StatusLine(t, this.local);
    const invite = h("button", { type: "button", id: "copy-invite" }, "Copy invite link");
    const readOnly = h("button", { type: "button", id: "copy-readonly", class: "secondary", disabled: !this.link.keys, title: this.link.keys ? undefined : "Plaintext rooms have no read-only links" }, "Copy read-only link");
    const rename = h("button", { type: "button", id: "change-name", class: "secondary" }, `You: ${this.name}`);
    const forget = h("button", { type: "button", id: "forget-local", class: "secondary", disabled: !this.local, title: "Delete the copy of this room that this browser keeps for offline use" }, "Forget on this device");
    forget.addEventListener("click", () => void this.forgetLocal(forget));
    invite.addEventListener("click", () => void this.copy(this.inviteLink(), "Invite link"));
    readOnly.addEventListener("click", () => void this.copy(readLink(this.link.serverBase, this.link.keys!), "Read-only link"));
    rename.addEventListener("click", async () => {
      const next = await ask({ title: "Your name", label: "Your name, as others will see it", value: this.name, submit: "Save" });
      if (!next) return;
      this.name = rememberName(next);
      rename.textContent = `You: ${this.name}`;
      t.awareness.setLocalStateField("user", identity(this.name));
    });

    const editorHost = h("div", { class: "editor", id: "editor" });
    const assistant = (this.assistant = new Assistant(this.ws, t.awareness, {
      view: () => this.editor.view,
      path: () => this.editor.path,
      ytext: () => this.editor.ytext,
      name: () => this.name,
      canWrite: () => t.canWrite,
      say: (message) => this.say(message),
    }));
    const aiExtension = assistant.extension();
    this.editor = new FileEditor(editorHost, t.awareness, () => !t.canWrite, () => aiExtension);
    this.tree = new FileTree(this.ws, {
      current: () => this.editor.path,
      open: (path) => {
        if (this.peoplePanel.following !== null) {
          this.peoplePanel.following = null;
          this.peoplePanel.render();
        }
        this.open(path);
      },
      canWrite: () => t.canWrite,
      peopleIn: (path) => people(t.awareness).filter((p) => !p.self && p.file === path),
      error: (message) => this.say(message),
    });
    this.peoplePanel = new PeoplePanel(t.awareness, this.announcer, () => this.followNow(), (clientId) => this.aiStatus(clientId));
    const chat = new ChatPanel(this.ws, () => this.name, t.canWrite, (code) => {
      if (!this.editor.insertAtCursor(code)) this.say("Open a file you can edit to insert code.");
    });
    const agentsPanel = new AgentsPanel(this.link.serverBase, this.link.keys, t.doc, t.awareness, () => this.name, () => t.canWrite);
    // The presence list says what the AI is doing; that changes with the document, not only presence.
    let peopleScheduled = false;
    const renderPeopleSoon = () => {
      if (peopleScheduled) return;
      peopleScheduled = true;
      requestAnimationFrame(() => {
        peopleScheduled = false;
        this.peoplePanel.render();
      });
    };
    this.ws.suggestions.observeDeep(renderPeopleSoon);
    this.ws.chat.observeDeep(renderPeopleSoon);

    this.root.replaceChildren(
      h(
        "header",
        { class: "topbar" },
        h("h1", {}, h("a", { href: homeHref(), "aria-label": "collab home" }, "collab")),
        h("span", { class: `badge ${this.link.keys ? "e2ee" : "plain"}` }, kind),
        status.el,
        h("div", { class: "row links" }, invite, readOnly, this.linkField),
        rename,
        forget,
      ),
      h(
        "main",
        { class: "layout" },
        h("nav", { class: "side", "aria-label": "Files and people" }, this.tree.el, this.peoplePanel.el, agentsPanel.el),
        h(
          "section",
          { class: "work", "aria-labelledby": "editor-heading" },
          this.fileHeading,
          assistant.toolbar,
          editorHost,
          h("p", { id: "editor-help", class: "muted small" }, "In the editor, Tab indents. Press Esc, then Tab, to move on."),
          this.notice,
        ),
        chat.el,
      ),
      this.announcer.el,
    );

    this.ws.files.observe((event) => {
      const current = this.editor.path;
      if (current && event.keysChanged.has(current)) {
        const text = this.ws.text(current);
        if (!text) {
          this.say(`${current} was deleted or renamed`);
          this.open(null);
        } else if (text !== this.editor.ytext) {
          this.open(current); // replaced by someone else's file of the same name
        }
      }
      this.openFirst();
      this.tree.render();
    });
    t.awareness.on("change", () => {
      this.peoplePanel.render();
      this.tree.render();
      this.followNow();
    });
    t.onChange(() => {
      assistant.schedule();
      this.openFirst();
      this.tree.render();
      if (t.canWrite !== this.wasWritable) {
        // The hub decided our role (READY, or a "forbidden" NACK): rebuild the editor's read-only state.
        this.wasWritable = t.canWrite;
        this.open(this.editor.path);
      }
    });
    t.onWarning((message) => this.say(message));
    this.openFirst(); // a copy kept in this browser is already in the document
    this.peoplePanel.render();
    this.tree.render();
  }

  private aiStatus(clientId: number): string | null {
    const agent = agentsPresent(this.transport.awareness).find((a) => a.clientId === clientId);
    if (!agent) return null;
    const doing = activityOf(this.ws, agent).map((a) => describe(agent.name, a));
    const model = `AI · ${agent.model || agent.backend}${agent.local ? " (local)" : ""}`;
    return doing.length ? `${model} · ${doing.join("; ")}` : agent.busy > 0 ? `${model} · working` : `${model} · idle`;
  }

  private inviteLink(): string {
    const { keys, serverBase, room } = this.link;
    if (!keys) return `${serverBase}/s/${room}`;
    return keys.canWrite ? writeLink(serverBase, keys) : readLink(serverBase, keys);
  }

  private async copy(text: string, what: string): Promise<void> {
    this.linkField.value = text;
    try {
      await navigator.clipboard.writeText(text);
      this.say(`${what} copied to the clipboard`);
    } catch {
      this.linkField.focus();
      this.linkField.select();
      this.say(`${what} is in the field: copy it with Ctrl+C`);
    }
  }

  private async forgetLocal(button: HTMLButtonElement): Promise<void> {
    if (!this.local) return;
    button.disabled = true;
    try {
      await this.local.forget();
    } catch (err) {
      button.disabled = false;
      this.say(`Could not delete this browser's copy of the room: ${(err as Error).message}`);
      return;
    }
    const pending = this.transport.pending;
    this.say(
      "This browser no longer keeps a copy of this room; opening the link again starts a new one." +
        (pending ? ` ${pending} edit${pending === 1 ? "" : "s"} not sent yet are lost if you close this tab before you are back online.` : ""),
    );
  }

  private say(message: string): void {
    this.notice.textContent = message;
  }

  private openFirst(): void {
    // A copy kept in this browser is worth showing before the hub answers.
    if (this.openedFirst || !(this.transport.synced || this.restored)) return;
    if (this.editor.path && this.ws.text(this.editor.path)) return;
    const first = this.ws.paths()[0];
    if (!first) return;
    this.openedFirst = true;
    this.open(first);
  }

  private open(path: string | null): void {
    const text = path ? this.ws.text(path) : undefined;
    this.editor.open(text ? path : null, text ?? null);
    this.fileHeading.textContent = text ? path! : "No file open";
    document.title = text ? `${path} · collab` : "collab session";
    this.assistant.refresh();
    this.tree.render();
  }

  private followNow(): void {
    const id = this.peoplePanel.following;
    if (id === null) return;
    const person = people(this.transport.awareness).find((p) => p.clientId === id);
    if (!person) return;
    if (person.file && person.file !== this.editor.path && this.ws.text(person.file)) this.open(person.file);
    this.editor.reveal(person.cursor);
  }
}
