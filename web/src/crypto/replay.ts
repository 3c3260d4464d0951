// Per-author sequence checks on opened envelopes, and the updates held back behind a gap
// (docs/e2ee.md "Ordering and replay", "Gaps and reordering"); the same rules as
// collab/protocol/replay_guard.py, including the export/load format of heads.
//
// Updates from the room's log go through admit(): an author's next update is accepted, followed by
// any of its later ones that were held; one further ahead is held, not dropped (issue 21: this page
// used to accept it and then drop the late one as a replay). The same author seq twice is a replay.
// Snapshots and presence go through check(): strictly increasing, gaps are normal.
import { EnvelopeType, ReorderedEnvelope, ReplayedEnvelope, type Opened } from "./envelope.js";
import { toHex } from "./bytes.js";

const TYPE_NAMES: Record<number, string> = { 1: "update", 2: "snapshot", 3: "awareness" };

// An honest hub that delays one envelope puts a few dozen behind it; these bound what a hostile
// one can make the page keep.
export const MAX_HELD_PER_AUTHOR = 1024;
export const MAX_HELD_BYTES = 32 * 1024 * 1024;

/** An update from the room's log with the hub seq it came under. */
export interface Held {
  seq: number;
  opened: Opened;
}

/** An author whose update `expected` has not arrived while later ones have. */
export interface Gap {
  author: string; // hex
  expected: number;
  firstHeld: number;
  held: number;
}

export function describeGap(g: Gap): string {
  const missing = g.firstHeld === g.expected + 1 ? `${g.expected}` : `${g.expected}..${g.firstHeld - 1}`;
  return `update ${missing} of author ${g.author.slice(0, 8)}… (${g.held} held behind it)`;
}

type Checked = Pick<Opened, "type" | "authorId" | "authorSeq">;

const who = (o: Checked) => `${TYPE_NAMES[o.type]} ${o.authorSeq} from author ${toHex(o.authorId)}`;
const updateKey = (author: string) => `${EnvelopeType.UPDATE}:${author}`;

export class ReplayGuard {
  private last = new Map<string, number>();
  private heldBy = new Map<string, Map<number, Held>>(); // author hex -> author seq -> held update
  private heldBytes = 0;
  /** Updates ahead of a gap that did not fit (the hub sends them again when asked). */
  notKept = 0;

  constructor(
    readonly maxHeldPerAuthor = MAX_HELD_PER_AUTHOR,
    readonly maxHeldBytes = MAX_HELD_BYTES,
  ) {}

  /**
   * An update that came as hub entry `seq`: the updates to apply now, in order ([this one, then each
   * held one it unblocks]); [] when it is ahead of a gap (held, or not kept when the bounds are
   * reached). Throws ReplayedEnvelope for an author seq accepted already, or held under another seq.
   */
  admit(seq: number, opened: Opened): Held[] {
    if (opened.type !== EnvelopeType.UPDATE) throw new Error(`only updates are admitted from the log, not ${TYPE_NAMES[opened.type]}`);
    const author = toHex(opened.authorId);
    const last = this.last.get(updateKey(author)) ?? 0;
    const aseq = opened.authorSeq;
    const held = this.heldBy.get(author);
    if (aseq <= last) throw new ReplayedEnvelope(`${who(opened)} is a replay: ${last} was already accepted`);
    const already = held?.get(aseq);
    if (already) {
      if (already.seq === seq) return []; // the same entry again: the hub was asked for it again
      throw new ReplayedEnvelope(`${who(opened)} is a replay: it is already held as entry ${already.seq}`);
    }
    if (aseq !== last + 1) {
      this.hold(author, { seq, opened });
      return [];
    }
    this.last.set(updateKey(author), aseq);
    return [{ seq, opened }, ...this.releaseAuthor(author)];
  }

  /** After load(): [held updates now in order, held updates the new heads cover]. */
  release(): [Held[], Held[]] {
    const ready: Held[] = [];
    const covered: Held[] = [];
    for (const [author, held] of [...this.heldBy]) {
      const last = this.last.get(updateKey(author)) ?? 0;
      for (const aseq of [...held.keys()].filter((a) => a <= last).sort((a, b) => a - b)) covered.push(this.unhold(author, aseq));
      ready.push(...this.releaseAuthor(author));
    }
    return [ready, covered];
  }

  /** Every author with updates held, oldest gap first. */
  gaps(): Gap[] {
    const out: [number, Gap][] = [];
    for (const [author, held] of this.heldBy) {
      const aseqs = [...held.keys()];
      const lowestSeq = Math.min(...[...held.values()].map((h) => h.seq));
      out.push([lowestSeq, { author, expected: (this.last.get(updateKey(author)) ?? 0) + 1, firstHeld: Math.min(...aseqs), held: held.size }]);
    }
    return out.sort((a, b) => a[0] - b[0]).map(([, g]) => g);
  }

  get held(): number {
    let n = 0;
    for (const h of this.heldBy.values()) n += h.size;
    return n;
  }

  private hold(author: string, item: Held): void {
    const held = this.heldBy.get(author) ?? new Map<number, Held>();
    const size = item.opened.plaintext.length;
    if (held.size >= this.maxHeldPerAuthor || this.heldBytes + size > this.maxHeldBytes) {
      this.notKept++;
      return;
    }
    held.set(item.opened.authorSeq, item);
    this.heldBy.set(author, held);
    this.heldBytes += size;
  }

  private unhold(author: string, aseq: number): Held {
    const held = this.heldBy.get(author)!;
    const item = held.get(aseq)!;
    held.delete(aseq);
    if (!held.size) this.heldBy.delete(author);
    this.heldBytes -= item.opened.plaintext.length;
    return item;
  }

  private releaseAuthor(author: string): Held[] {
    const out: Held[] = [];
    for (;;) {
      const next = (this.last.get(updateKey(author)) ?? 0) + 1;
      if (!this.heldBy.get(author)?.has(next)) return out;
      this.last.set(updateKey(author), next);
      out.push(this.unhold(author, next));
    }
  }

  /**
   * Accept `opened` or throw; a failed check records nothing. For snapshots, presence and our own
   * updates: an update must be its author's next unless `allowGap` (log updates use admit()).
   */
  check(opened: Checked, allowGap = false): void {
    const author = toHex(opened.authorId);
    const key = `${opened.type}:${author}`;
    const last = this.last.get(key) ?? 0;
    const seq = opened.authorSeq;
    if (seq <= last) throw new ReplayedEnvelope(`${who(opened)} is a replay: ${last} was already accepted`);
    if (opened.type === EnvelopeType.UPDATE && seq !== last + 1 && !allowGap) {
      const missing = seq === last + 2 ? `${last + 1}` : `${last + 1}..${seq - 1}`;
      throw new ReorderedEnvelope(`${who(opened)} arrived but ${last + 1} was expected: updates ${missing} were reordered or withheld`, last + 1, seq);
    }
    this.last.set(key, seq);
  }

  /** Update heads as {author id hex: last seq}, for a snapshot's plaintext. */
  export(): Record<string, number> {
    const heads: Record<string, number> = {};
    for (const key of [...this.last.keys()].sort()) {
      const [type, author] = key.split(":") as [string, string];
      if (Number(type) === EnvelopeType.UPDATE) heads[author] = this.last.get(key)!;
    }
    return heads;
  }

  /** Adopt heads from a snapshot; a head never moves backwards. Validates everything first. Then release(). */
  load(heads: Record<string, unknown>): void {
    const parsed: [string, number][] = [];
    for (const [author, seq] of Object.entries(heads)) {
      if (!/^[0-9a-fA-F]{32}$/.test(author)) throw new Error(`author head key ${JSON.stringify(author)} is not 16 bytes of hex`);
      if (typeof seq !== "number" || !Number.isSafeInteger(seq) || seq < 1) throw new Error(`author head for ${author} must be an integer >= 1`);
      parsed.push([author.toLowerCase(), seq]);
    }
    for (const [author, seq] of parsed) {
      const key = updateKey(author);
      this.last.set(key, Math.max(this.last.get(key) ?? 0, seq));
    }
  }
}
