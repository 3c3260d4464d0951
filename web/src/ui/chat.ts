// The shared chat: messages from people and the AI (whose replies stream into their Y.Text).
import { presenceName } from "../presence/peer.js";
import type { Workspace } from "../workspace.js";
import { StyleModule } from "style-mod";
import { clear, h, perFrame } from "./dom.js";
import { codeStyles, renderAnswer } from "./codeblocks.js";

export class ChatPanel {
  readonly el: HTMLElement;
  // role=log on a wrapper: on the <ol> itself it would hide the list semantics of its items.
  private list = h("ol", { class: "chat-list" });
  private log = h("div", { class: "chat-log", id: "chat-log", role: "log", "aria-label": "Chat messages", tabindex: 0 }, this.list);
  private input = h("textarea", { id: "chat-input", name: "message", rows: 2, maxlength: 4000 });

  constructor(
    private readonly ws: Workspace,
    private readonly author: () => string,
    canWrite: boolean,
    private readonly insert: ((code: string) => void) | null = null,
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
    this.el = h("section", { class: "panel chat", "aria-labelledby": "chat-heading" }, h("h2", { id: "chat-heading" }, "Chat"), this.log, form);
    // A streaming AI reply changes on every token: render once per frame, not per change.
    ws.observeChat(perFrame(() => this.render()));
    this.render();
  }

  private send(): void {
    const text = this.input.value.trim();
    if (!text) return;
    this.ws.postChat(this.author(), text);
    this.input.value = "";
  }

  private render(): void {
    const atBottom = this.log.scrollHeight - this.log.scrollTop - this.log.clientHeight < 40;
    clear(this.list);
    for (const m of this.ws.messages()) {
      // Anyone who can write chose this name: shown like a name in presence.
      const author = presenceName(m.author) ?? "?";
      const when = new Date(m.ts * 1000);
      this.list.append(
        h(
          "li",
          { class: `msg ${m.kind}`, "data-id": m.id },
          h("span", { class: "author" }, m.kind === "ai" ? `${author} (AI${m.model ? `, ${m.model}` : ""})` : author),
          " ",
          h("time", { datetime: when.toISOString(), class: "muted" }, when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })),
          m.kind === "ai" && m.status && m.status !== "done" ? h("span", { class: "ai-status muted" }, m.status === "streaming" ? (m.text ? "writing…" : "thinking…") : m.status) : null,
          // AI answers carry code: fenced blocks get highlighting and an insert action.
          ...(m.kind === "ai" ? renderAnswer(m.text, this.insert) : [h("p", { class: "text" }, m.text)]),
        ),
      );
    }
    if (atBottom) this.log.scrollTop = this.log.scrollHeight;
  }
}
