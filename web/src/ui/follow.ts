// Following a participant: the editor shows the file they are in and scrolls to their cursor,
// until you act on your own (click, type, open a file) or press Stop. "Jump to" does it once.
import type { Awareness } from "y-protocols/awareness";
import { Listeners } from "../listeners.js";
import type { CurrentFile } from "./current.js";
import { h } from "./dom.js";
import type { FileEditor } from "./editor.js";
import { people } from "./people.js";

type Changes = { added: number[]; updated: number[]; removed: number[] };

export class Follow {
  private id: number | null = null;
  private readonly changed = new Listeners<[]>();
  private readonly stopButton = h("button", { type: "button", class: "secondary small", "aria-label": "Stop following" }, "Stop");
  private readonly who = h("span", {});
  /** "Following Ada — Stop", above the editor while following. */
  readonly banner = h("div", { id: "follow-banner", class: "follow-banner", role: "status", hidden: true }, this.who, this.stopButton);

  constructor(
    private readonly awareness: Awareness,
    private readonly current: CurrentFile,
    private readonly editor: Pick<FileEditor, "reveal">,
  ) {
    this.stopButton.addEventListener("click", () => this.stop());
    // Our own cursor moving is a presence change too, and it happens inside an editor update: only
    // the followed person's changes matter, and the editor is moved after that update is over.
    awareness.on("change", ({ added, updated, removed }: Changes) => {
      if (this.id === null) return;
      if (added.includes(this.id) || updated.includes(this.id) || removed.includes(this.id)) this.later(this.id);
    });
  }

  /** The awareness client id followed, or null. */
  get following(): number | null {
    return this.id;
  }

  /** The people list redraws its Follow buttons. */
  onChange(listener: () => void): void {
    this.changed.add(listener);
  }

  toggle(clientId: number): void {
    this.set(this.id === clientId ? null : clientId);
    if (this.id !== null) this.later(this.id);
  }

  /** Go where they are once, without following. */
  jumpTo(clientId: number): void {
    this.stop();
    this.later(clientId, true);
  }

  /** Opening a file, clicking or typing yourself stops following. */
  stop(): void {
    this.set(null);
  }

  private set(id: number | null): void {
    if (id === this.id) return;
    this.id = id;
    const name = id === null ? null : people(this.awareness).find((p) => p.clientId === id)?.name;
    this.who.textContent = name ? `Following ${name} ` : "";
    this.banner.hidden = id === null;
    this.changed.emit();
  }

  private later(id: number, once = false): void {
    queueMicrotask(() => {
      if (!once && this.id !== id) return;
      const person = people(this.awareness).find((p) => p.clientId === id);
      if (!person) return once ? undefined : this.set(null); // they left
      if (person.file) this.current.show(person.file);
      this.editor.reveal(person.cursor);
    });
  }
}
