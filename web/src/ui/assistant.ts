// The AI at the cursor: "Ask AI" actions (suggest here, explain, fix, free text) and the ghost
// text controller that keeps the editor's suggestion widgets in step with the shared document.
import * as Y from "yjs";
import { keymap, type EditorView } from "@codemirror/view";
import { Prec, type Extension } from "@codemirror/state";
import type { Awareness } from "y-protocols/awareness";
import { activityOf, agentsPresent, describe } from "../ai/activity.js";
import { SuggestionError, type Suggestion, type Workspace } from "../workspace.js";
import { ask } from "./dialog.js";
import { h, perFrame } from "./dom.js";
import { closerOverlap } from "./closers.js";
import { ghostText, setGhosts, type Ghost } from "./ghost.js";

export interface AssistantHost {
  view(): EditorView;
  path(): string | null;
  ytext(): Y.Text | null;
  name(): string;
  canWrite(): boolean;
  say(message: string): void;
  /** For screen readers: "suggestion ready" (the announcer, throttled). */
  announce?(message: string): void;
}

/** Whether an agent in presence answers questions (presence `agent.answers`; builtin does not). */
function answers(awareness: Awareness, clientId: number): boolean {
  const agent = (awareness.getStates().get(clientId) as { agent?: { answers?: unknown } } | undefined)?.agent;
  return agent?.answers !== false;
}

export class Assistant {
  readonly toolbar: HTMLElement;
  /** What the AI here can do, said before anyone clicks. */
  private readonly can = h("span", { id: "ai-can", class: "muted small" });
  private readonly askButtons: HTMLButtonElement[];
  private readonly suggestButton: HTMLButtonElement;
  private readonly statuses = new Map<string, string>();
  /** Streaming changes the ghost text on every token: redraw once per frame. */
  readonly schedule = perFrame(() => this.refresh());

  constructor(private readonly ws: Workspace, private readonly awareness: Awareness, private readonly host: AssistantHost) {
    const button = (id: string, text: string, title: string, act: () => void) => {
      const b = h("button", { type: "button", id, class: "secondary small", title }, text);
      // Keep the editor's focus and selection: the agent reads them from presence.
      b.addEventListener("mousedown", (e) => e.preventDefault());
      b.addEventListener("click", act);
      return b;
    };
    this.askButtons = [
      button("ai-explain", "Explain", "Ask the AI in the chat to explain the selection or the code at the cursor", () => void this.askChat("explain")),
      button("ai-fix", "Fix", "Ask the AI in the chat to fix the selection or the code at the cursor", () => void this.askChat("fix")),
      button("ai-ask", "Ask…", "Ask the AI anything about the selection or the code at the cursor", () => void this.askFree()),
    ];
    this.suggestButton = button("ai-suggest", "Complete here", "Ask the AI for a suggestion at the cursor (Alt+/)", () => this.suggestHere());
    for (const b of [...this.askButtons, this.suggestButton]) b.dataset.title = b.title;
    this.toolbar = h(
      "div",
      { class: "row ai-toolbar", role: "toolbar", "aria-label": "Ask AI", "aria-describedby": "ai-can" },
      h("span", { class: "muted small" }, "Ask AI:"),
      this.suggestButton,
      ...this.askButtons,
      this.can,
    );
    ws.observeSuggestions(this.schedule);
    ws.observeChat(this.schedule);
    awareness.on("change", this.schedule);
  }

  /** The editor extensions: ghost text, its keys, and Alt+/ for "complete here". */
  extension(): Extension {
    return [
      ghostText({
        accept: (id) => this.decide(() => this.accept(id)),
        reject: (id) => this.decide(() => this.ws.rejectSuggestion(id, this.host.name())),
        stale: (ids) => this.ws.markStale(ids),
        canDecide: () => this.host.canWrite(),
      }),
      Prec.high(keymap.of([{ key: "Alt-/", run: () => (this.suggestHere(), true) }])),
    ];
  }

  suggestHere(): void {
    const path = this.host.path();
    if (!path || !this.host.canWrite()) return this.host.say("Open a file you can edit to ask for a suggestion.");
    const head = this.host.view().state.selection.main.head;
    try {
      this.ws.requestSuggestion(path, head, this.host.name());
    } catch (err) {
      if (err instanceof SuggestionError) this.host.say(err.message);
      else throw err;
    }
    if (!agentsPresent(this.awareness).length) this.host.say("Asked for a suggestion, but no AI is in this session yet: invite one below the people list.");
  }

  private async askChat(verb: "explain" | "fix"): Promise<void> {
    const sel = this.host.view().state.selection.main;
    const what = sel.empty ? "the code at my cursor" : "the selected code";
    this.post(`@ai ${verb} ${what}${this.host.path() ? ` in ${this.host.path()}` : ""}`);
  }

  private async askFree(): Promise<void> {
    const question = await ask({ title: "Ask AI", label: "Your question (the AI sees your file and selection)", submit: "Ask" });
    this.host.view().focus();
    if (question) this.post(`@ai ${question}`);
  }

  /** Post to the chat, addressed to the agents, after pinning our file and selection in presence. */
  private post(text: string): void {
    if (!this.host.canWrite()) return this.host.say("Read-only link: you cannot ask the AI.");
    const ytext = this.host.ytext();
    const sel = this.host.view().state.selection.main;
    if (ytext) {
      // The agent reads the asker's file and selection from presence (collab/ai/context.py); set them
      // now, whatever the focus did, so they travel before the question does.
      const rel = (i: number) => Y.relativePositionToJSON(Y.createRelativePositionFromTypeIndex(ytext, i));
      this.awareness.setLocalStateField("cursor", { anchor: rel(sel.anchor), head: rel(sel.head) });
    }
    this.ws.postChat(this.host.name(), text);
    if (!agentsPresent(this.awareness).length) this.host.say("Asked in the chat, but no AI is in this session yet: invite one below the people list.");
  }

  /** Accept, merging closers the editor auto-inserted after the anchor that the text brings too: one change. */
  private accept(id: string): void {
    const path = this.host.path();
    const text = (path ? this.ws.suggestions(path).find((s) => s.id === id)?.text : undefined) ?? "";
    const ytext = this.host.ytext();
    this.ws.doc.transact(() => {
      const at = this.ws.acceptSuggestion(id, this.host.name());
      if (!ytext || at < 0 || !text) return;
      const end = at + text.length;
      const rest = ytext.toString().slice(end, end + 64).split("\n")[0]!;
      const merged = closerOverlap(text, rest);
      if (merged) ytext.delete(end, merged);
    });
  }

  /** Say what the agents here can do: Explain/Fix/Ask need one that answers questions. */
  private capabilities(agents: ReturnType<typeof agentsPresent>): void {
    const answering = agents.filter((a) => answers(this.awareness, a.clientId));
    let why = "";
    let can: string;
    if (!agents.length) can = "No AI in this session yet: invite one under AI agents.";
    else if (!answering.length) {
      const names = agents.map((a) => a.model || a.name).join(", ");
      why = `${names} completes code at the cursor but cannot answer questions: run an agent with a language model (collab agent --model openai:… or ollama:…) to explain, fix or ask.`;
      can = `${names}: completes code only, no questions.`;
    } else can = `${answering.map((a) => a.model || a.name).join(", ")} can complete code and answer in the chat.`;
    // This runs once a frame while people type (presence changes): touch the DOM only on a change.
    if (this.can.textContent !== can) this.can.textContent = can;
    // A read-only link can watch the AI but not ask it: every button says so.
    const readOnly = this.host.canWrite() ? "" : "Read-only link: you cannot ask the AI.";
    const set = (b: HTMLButtonElement, reason: string) => {
      if (b.disabled !== !!reason) b.disabled = !!reason;
      const title = reason || b.dataset.title!;
      if (b.title !== title) b.title = title;
    };
    for (const b of this.askButtons) set(b, readOnly || why);
    set(this.suggestButton, readOnly);
  }

  private decide(act: () => unknown): void {
    try {
      act();
    } catch (err) {
      if (err instanceof SuggestionError) this.host.say(err.message);
      else throw err;
    }
  }

  refresh(): void {
    const path = this.host.path();
    const view = this.host.view();
    const agents = agentsPresent(this.awareness);
    const ghosts: Ghost[] = [];
    const decidable = this.host.canWrite();
    this.capabilities(agents);
    if (path) {
      for (const s of this.ws.suggestions(path)) {
        const before = this.statuses.get(s.id);
        this.statuses.set(s.id, s.status);
        if (s.status === "ready" && before !== undefined && before !== "ready") this.host.announce?.(`Suggestion ready from ${s.model || "the AI"} in ${path}: Tab accepts at the suggestion`);
        if (s.index === null) continue;
        ghosts.push({ id: s.id, pos: Math.min(s.index, view.state.doc.length), text: s.text, status: s.status, model: s.model, note: this.note(s, agents), decidable });
      }
    }
    view.dispatch({ effects: setGhosts.of(ghosts) });
  }

  private note(s: Suggestion, agents: ReturnType<typeof agentsPresent>): string {
    const forWhom = s.requestedBy ? ` for ${s.requestedBy}` : "";
    switch (s.status) {
      case "requested":
        return agents.length ? `waiting for the AI${forWhom}` : "waiting: no AI in this session";
      case "streaming": {
        const agent = agents.find((a) => `${a.name}#${a.clientId}` === s.agent);
        const doing = agent ? activityOf(this.ws, agent).find((a) => a.suggestion === s.id) : undefined;
        return agent && doing ? describe(agent.name, doing) : `writing${forWhom}`;
      }
      case "ready":
        return `ready${forWhom}`;
      case "stale":
        return "stale: the code here changed";
      case "error":
        return `failed: ${s.error.slice(0, 120)}`;
      default:
        return s.status;
    }
  }
}
