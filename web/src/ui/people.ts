// Presence: who is here, in which file; follow someone to see what they see.
import type { Awareness } from "y-protocols/awareness";
import { agentStatus } from "../ai/activity.js";
import { presenceColor, presenceName } from "../presence/peer.js";
import type { Workspace } from "../workspace.js";
import type { Announcer } from "./announcer.js";
import { clear, h, perFrame } from "./dom.js";
import type { Follow } from "./follow.js";
import { logCodeLine, removeButton } from "./remove_member.js";

export interface Person {
  clientId: number;
  name: string;
  color: string;
  file: string | null;
  cursor: { anchor?: unknown; head?: unknown } | null;
  self: boolean;
  /** What kind of participant: a person in a browser or editor, a read-only viewer, a folder mirror, an AI. */
  kind: "person" | "viewer" | "mirror" | "ai";
}

function kindOf(state: Record<string, unknown>): Person["kind"] {
  if (state.agent && typeof state.agent === "object") return "ai";
  return state.kind === "viewer" || state.kind === "mirror" ? state.kind : "person";
}

const ROLE: Record<Person["kind"], string | null> = { person: null, viewer: "read-only", mirror: "folder mirror", ai: "AI" };

/** Everyone in presence with a name, me first. States from peers were parsed on arrival (presence/update.ts). */
export function people(awareness: Awareness): Person[] {
  const out: Person[] = [];
  for (const [clientId, state] of awareness.getStates()) {
    const user = (state as { user?: { name?: unknown; color?: unknown } }).user;
    const name = presenceName(user?.name);
    if (name === null) continue;
    const file = typeof state.file === "string" ? state.file : null;
    out.push({ clientId, name, color: presenceColor(user?.color), file, cursor: state.cursor ?? null, self: clientId === awareness.clientID, kind: kindOf(state) });
  }
  return out.sort((a, b) => Number(b.self) - Number(a.self) || a.name.localeCompare(b.name));
}

/** What the people list needs of following: who is followed, and a way to start or stop. */
export type FollowControl = Pick<Follow, "following" | "toggle" | "onChange" | "jumpTo">;

export class PeoplePanel {
  readonly el: HTMLElement;
  private list = h("ul", { class: "people", id: "people-list", "aria-label": "Participants" });
  private seen = new Map<number, { name: string; file: string | null }>();

  constructor(
    private readonly awareness: Awareness,
    private readonly ws: Workspace,
    private readonly announcer: Announcer,
    private readonly follow: FollowControl,
  ) {
    this.el = h("section", { class: "panel", "aria-labelledby": "people-heading" }, h("h2", { id: "people-heading" }, "People"), this.list, logCodeLine(awareness));
    awareness.on("change", () => this.render());
    follow.onChange(() => this.render());
    // The list says what the AI is doing; that changes with the document, not only presence.
    const soon = perFrame(() => this.render());
    ws.observeSuggestions(soon);
    ws.observeChat(soon);
    this.render();
  }

  render(): void {
    const everyone = people(this.awareness);
    const now = new Map<number, { name: string; file: string | null }>();
    clear(this.list);
    for (const p of everyone) {
      now.set(p.clientId, { name: p.name, file: p.file });
      const before = this.seen.get(p.clientId);
      if (!p.self && this.seen.size && !before) this.announcer.say(`${p.name} joined`);
      else if (!p.self && before && before.file !== p.file && p.file) this.announcer.say(`${p.name} is in ${p.file}`);
      const dot = h("span", { class: "dot", "aria-hidden": "true" });
      dot.style.background = p.color;
      const where = h("span", { class: "where muted" }, p.file ? `in ${p.file}` : "no file open");
      // For AI participants: what they are doing and for whom ("thinking for Ada").
      const ai = agentStatus(this.ws, this.awareness, p.clientId);
      const item = h(
        "li",
        { "data-name": p.name },
        dot,
        h("span", { class: "name" }, p.self ? `${p.name} (you)` : p.name),
        ROLE[p.kind] ? h("span", { class: `role ${p.kind}`, "data-role": p.kind }, ROLE[p.kind]!) : null,
        where,
        ai === null ? null : h("span", { class: "ai-activity small", "data-ai": "true" }, ai),
      );
      if (!p.self) {
        const pressed = this.follow.following === p.clientId;
        const follow = h("button", { type: "button", class: "secondary small", "aria-pressed": String(pressed), "aria-label": `Follow ${p.name}` }, "Follow"); // pressed: drawn as such (app.css), the name stays "Follow Ada"
        follow.addEventListener("click", () => this.follow.toggle(p.clientId));
        const jump = h("button", { type: "button", class: "secondary small", "aria-label": `Jump to ${p.name}`, title: "Go to where they are, once" }, "Jump to");
        jump.addEventListener("click", () => this.follow.jumpTo(p.clientId));
        item.append(follow, jump);
        const remove = removeButton(this.awareness, p, this.announcer); // encrypted rooms, write links
        if (remove) item.append(remove);
      }
      this.list.append(item);
    }
    for (const [id, before] of this.seen) if (!now.has(id) && id !== this.awareness.clientID) this.announcer.say(`${before.name} left`);
    this.seen = now;
  }
}
