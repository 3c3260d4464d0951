// An editor buffer in memory that behaves as VS Code's does towards an extension: local typing
// changes it at once and fires a change event; an applied edit goes through an asynchronous hop
// and is refused when the buffer changed in between (VS Code's version check).
import { EditorBuffer, SessionFile } from "../core/file";
import { applyChanges, Change } from "../core/text";

export class MemoryBuffer implements EditorBuffer {
  private version = 0;
  private gate: Promise<void> | null = null;
  private release: (() => void) | null = null;
  refused = 0;

  constructor(private current: string, private readonly file: SessionFile, private readonly delayMs = 0) {}

  text(): string {
    return this.current;
  }

  /** The person types: changes in order, against the buffer as it is now. */
  type(changes: Change[]): void {
    this.current = applyChanges(this.current, changes);
    this.version += 1;
    this.file.changed(this.current, changes);
  }

  /** Remote edits wait (as if the editor were busy) until released. */
  hold(): void {
    if (!this.gate) this.gate = new Promise((resolve) => (this.release = resolve));
  }
  unhold(): void {
    this.release?.();
    this.gate = this.release = null;
  }

  async apply(changes: Change[]): Promise<boolean> {
    const version = this.version;
    await new Promise((resolve) => setTimeout(resolve, this.delayMs ? Math.random() * this.delayMs : 0));
    while (this.gate) await this.gate;
    if (version !== this.version) {
      this.refused += 1;
      return false;
    }
    this.current = applyChanges(this.current, changes);
    this.version += 1;
    this.file.changed(this.current, changes);
    return true;
  }
}
