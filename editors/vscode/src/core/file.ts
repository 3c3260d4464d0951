// One open session file: the editor's side of the revision scheme (docs/editor-protocol.md,
// "Revisions"). This side never transforms: a remote edit made for a buffer without this editor's
// latest edit is dropped, and the bridge sends it again, rebased over that edit.
//
// An editor such as VS Code applies a remote edit asynchronously and may refuse it if the person
// typed in between (the document's version moved on); the edit then did not happen, and is dropped
// like any other stale one. Its echo (the change event the editor fires for it) is recognised by
// the text it leaves: the shadow with the remote changes applied.
import { applyChanges, Change, diff } from "./text";

export interface EditorBuffer {
  /** Apply changes in order (LSP's rule). Resolves false when the buffer moved on and nothing was applied. */
  apply(changes: Change[]): Promise<boolean>;
  /** The text the editor shows now. */
  text(): string;
}

export interface RemoteEdit {
  path: string;
  revision: number;
  editor_revision: number;
  changes: Change[];
}

export interface Stamped {
  revision?: number;
  editor_revision?: number;
}

export type SendEdit = (params: { path: string; revision: number; changes: Change[] }) => Promise<unknown>;

export class SessionFile {
  /** The text as the bridge knows this editor has it (its own edits included). */
  shadow: string;
  /** How many of the bridge's edit notifications this editor applied. */
  revision: number;
  /** How many edits this editor sent. */
  sent: number;
  /** Remote edits dropped because the buffer had moved on (each comes again, rebased). */
  dropped = 0;
  buffer: EditorBuffer | null = null;
  private queue: RemoteEdit[] = [];
  private inFlight: { edit: RemoteEdit; expected: string } | null = null;
  private readonly listeners: Array<() => void> = [];

  constructor(
    public path: string,
    text: string,
    revision: number,
    editorRevision: number,
    private readonly send: SendEdit,
    readonly readOnly: boolean,
  ) {
    this.shadow = text;
    this.revision = revision;
    this.sent = editorRevision;
  }

  /** A remote edit is on its way into the editor's buffer. */
  get applying(): boolean {
    return this.inFlight !== null;
  }

  /** Called after each applied remote edit (the stamps changed: decorations may be current now). */
  onRevision(listener: () => void): void {
    this.listeners.push(listener);
  }

  attach(buffer: EditorBuffer): void {
    this.buffer = buffer;
    this.pump();
  }

  /** Does a notification stamped with revisions refer to the buffer as it is now? */
  current(p: Stamped): boolean {
    return p.revision === this.revision && p.editor_revision === this.sent && this.inFlight === null;
  }

  /** The editor's buffer changed (any source): `now` is its text, `changes` (optional) what the editor says
   *  happened, in order. A local change goes to the bridge; the echo of a remote edit advances the revision. */
  changed(now: string, changes?: Change[]): void {
    if (this.inFlight && now === this.inFlight.expected) {
      this.shadow = now;
      this.revision = this.inFlight.edit.revision;
      this.inFlight = null;
      this.listeners.forEach((listener) => listener());
      return;
    }
    if (now === this.shadow) return;
    let sending: Change[] | null = null;
    if (changes && changes.length && applyChanges(this.shadow, changes) === now) sending = changes;
    else {
      const one = diff(this.shadow, now);
      sending = one ? [one] : null;
    }
    this.shadow = now;
    if (!sending || this.readOnly) return;
    this.sent += 1;
    void this.send({ path: this.path, revision: this.revision, changes: sending });
  }

  remote(edit: RemoteEdit): void {
    this.queue.push(edit);
    this.pump();
  }

  private pump(): void {
    if (!this.buffer) return;
    while (!this.inFlight && this.queue.length) {
      const edit = this.queue.shift()!;
      if (edit.editor_revision !== this.sent) {
        this.dropped += 1;
        continue;
      }
      const expected = applyChanges(this.shadow, edit.changes);
      if (expected === this.shadow) {
        this.revision = edit.revision;
        this.listeners.forEach((listener) => listener());
        continue;
      }
      const flight = { edit, expected };
      this.inFlight = flight;
      this.buffer.apply(edit.changes).then(
        () => this.settle(flight),
        () => this.settle(flight),
      );
    }
  }

  private settle(flight: { edit: RemoteEdit; expected: string }): void {
    if (this.inFlight === flight && this.buffer?.text() === flight.expected) {
      this.changed(flight.expected); // applied, its change event not (yet) seen: the same as the echo
    } else if (this.inFlight === flight) {
      // No echo came: the editor refused it (the person typed first). Dropped; it comes again, rebased.
      this.inFlight = null;
      this.dropped += 1;
    }
    this.pump();
  }
}
