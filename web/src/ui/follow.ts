// Following a participant: the editor shows the file they are in and scrolls to their cursor.
import type { Awareness } from "y-protocols/awareness";
import { Listeners } from "../listeners.js";
import type { CurrentFile } from "./current.js";
import type { FileEditor } from "./editor.js";
import { people } from "./people.js";

export class Follow {
  private id: number | null = null;
  private readonly changed = new Listeners<[]>();

  constructor(
    private readonly awareness: Awareness,
    private readonly current: CurrentFile,
    private readonly editor: Pick<FileEditor, "reveal">,
  ) {
    awareness.on("change", () => this.catchUp());
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
    this.catchUp();
  }

  /** Opening a file yourself stops following. */
  stop(): void {
    this.set(null);
  }

  private set(id: number | null): void {
    if (id === this.id) return;
    this.id = id;
    this.changed.emit();
  }

  private catchUp(): void {
    if (this.id === null) return;
    const person = people(this.awareness).find((p) => p.clientId === this.id);
    if (!person) return this.set(null); // they left
    if (person.file) this.current.show(person.file);
    this.editor.reveal(person.cursor);
  }
}
