// The shared chat: messages from people and the AI (whose replies stream into their Y.Text).
// The list changes in place: a new message is one appended item, a streaming answer rewrites only
// its own item (aria-busy until it is done), so a screen reader following the log hears each
// message once, never the history again. Messages that arrive while you are scrolled up or away
// are marked, with a button down to them.
import { presenceName } from "../presence/peer.js";
import type { ChatMessage, Workspace } from "../workspace.js";
import { StyleModule } from "style-mod";
import type { Announcer } from "./announcer.js";
import { h, perFrame } from "./dom.js";
import { codeStyles, renderMessage, type CodeActions } from "./codeblocks.js";
import type { MarkdownHost } from "./markdown.js";

interface Shown {
  li: HTMLLIElement;
  key: string;
  status: HTMLElement;
  body: HTMLElement;
  done: boolean;
}

const keyOf = (m: ChatMessage) => `${m.kind}\u0000${m.author}\u0000${m.model ?? ""}\u0000${m.status ?? ""}\u0000${m.text}`;
const finished = (m: ChatMessage) => m.kind !== "ai" || !m.status || (m.status !== "streaming" && m.status !== "requested");

export class ChatPanel {
  readonly el: HTMLElement;
  // role=log on a wrapper: on the <ol> itself it would hide the list semantics of its items.
  private list = h("ol", { class: "chat-list" });
  private log = h("div", { class: "chat-log", id: "chat-log", role: "log", "aria-label": "Chat messages", tabindex: 0 }, this.list);
  private input = h("textarea", { id: "chat-input", name: "message", rows: 2, maxlength: 4000 });
  private unreadButton = h("button", { type: "button", id: "chat-unread", class: "small", hidden: true });
  private readonly shown = new Map<string, Shown>();
  private unread = 0;
  private first = true;

  constructor(
    private readonly ws: Workspace,
    private readonly author: () => string,
    canWrite: boolean,
    private readonly actions: CodeActions | null = null,
    private readonly markdown: MarkdownHost | null = null,
    private readonly announcer: Pick<Announcer, "say"> | null = null,
  ) {
    StyleModule.mount(document, codeStyles);
    const send = h("button", { type: "submit", id: "chat-send" }, "Send");
    const form = h(
      "form",
      { class: "chat-form" },
      h("label", { for: "chat-input" }, "Message (Enter sends; @ai asks the AI)"),
      this.input,
      send,
    );
    if (!canWrite) {
      // Chat lives in the signed document: a read-only link can read it but not post.
      this.input.disabled = true;
      send.disabled = true;
      form.append(h("p", { class: "muted small" }, "Read-only link: you can follow the chat but not post."));
    }
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.send();
    });
    this.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.send();
      }
    });
    this.unreadButton.addEventListener("click", () => {
      this.log.scrollTop = this.log.scrollHeight;
      this.seen();
    });
    this.log.addEventListener("scroll", () => {
      if (this.atBottom()) this.seen();
    });
    document.addEventListener("visibilitychange", () => {
      if (this.atBottom()) this.seen();
    });
    this.el = h("section", { class: "panel chat", "aria-labelledby": "chat-heading" }, h("h2", { id: "chat-heading" }, "Chat"), this.log, this.unreadButton, form);
    // A streaming AI reply changes on every token: render once per frame, not per change.
    ws.observeChat(perFrame(() => this.render()));
    this.render();
  }

  private send(): void {
    const text = this.input.value.trim();
    if (!text) return;
    this.ws.postChat(this.author(), text);
    this.input.value = "";
    this.log.scrollTop = this.log.scrollHeight;
  }

  private atBottom(): boolean {
    return this.log.scrollHeight - this.log.scrollTop - this.log.clientHeight < 40;
  }

  private seen(): void {
    if (document.visibilityState !== "visible" || !this.unread) return;
    this.unread = 0;
    this.unreadButton.hidden = true;
  }

  private render(): void {
    const atBottom = this.atBottom();
    const messages = this.ws.messages();
    const alive = new Set<string>();
    let prev: HTMLLIElement | null = null;
    const arrived: ChatMessage[] = [];
    messages.forEach((m, i) => {
      const id = m.id || `#${i}`;
      alive.add(id);
      let item = this.shown.get(id);
      const key = keyOf(m);
      if (!item) {
        item = this.build(m, id);
        this.shown.set(id, item);
        if (!this.first) arrived.push(m);
      } else if (item.key !== key) {
        this.fill(item, m);
        if (!item.done && finished(m) && m.kind === "ai") this.announcer?.say(`${presenceName(m.author) ?? "The AI"} answered`);
      }
      item.key = key;
      item.done = finished(m);
      // In document order, moving an item only if it is out of place.
      const want: Element | null = prev ? prev.nextElementSibling : this.list.firstElementChild;
      if (want !== item.li) {
        if (prev) prev.after(item.li);
        else this.list.prepend(item.li);
      }
      prev = item.li;
    });
    for (const [id, item] of this.shown) {
      if (alive.has(id)) continue;
      item.li.remove();
      this.shown.delete(id);
    }
    const fromOthers = arrived.filter((m) => m.author !== this.author() || m.kind === "ai");
    if (fromOthers.length && (!atBottom || document.visibilityState !== "visible")) {
      if (!this.unread) {
        this.list.querySelector(".unread-first")?.classList.remove("unread-first");
        this.shown.get(fromOthers[0]!.id)?.li.classList.add("unread-first");
      }
      this.unread += fromOthers.length;
      this.unreadButton.textContent = `${this.unread} new message${this.unread === 1 ? "" : "s"} ↓`;
      this.unreadButton.hidden = false;
    }
    if (atBottom) this.log.scrollTop = this.log.scrollHeight;
    this.first = false;
  }

  private build(m: ChatMessage, id: string): Shown {
    // Anyone who can write chose this name: shown like a name in presence.
    const author = presenceName(m.author) ?? "?";
    const when = new Date(m.ts * 1000);
    const status = h("span", { class: "ai-status muted" });
    const body = h("div", { class: "body" });
    const li = h(
      "li",
      { class: `msg ${m.kind}`, "data-id": id },
      h("span", { class: "author" }, m.kind === "ai" ? `${author} (AI${m.model ? `, ${m.model}` : ""})` : author),
      " ",
      h("time", { datetime: when.toISOString(), class: "muted" }, when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })),
      status,
      body,
    );
    const item = { li, key: "", status, body, done: finished(m) };
    this.fill(item, m);
    return item;
  }

  private fill(item: Shown, m: ChatMessage): void {
    const streaming = m.kind === "ai" && m.status && m.status !== "done";
    item.status.textContent = streaming ? (m.status === "streaming" ? (m.text ? "writing…" : "thinking…") : m.status!) : "";
    item.status.hidden = !streaming;
    // A reply still being written is busy: a screen reader waits for the whole answer.
    if (!finished(m)) item.li.setAttribute("aria-busy", "true");
    else item.li.removeAttribute("aria-busy");
    item.body.replaceChildren(...renderMessage(m.text, m.kind === "ai" ? this.actions : null, this.markdown));
  }
}
