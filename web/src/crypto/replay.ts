// Per-author sequence checks on opened envelopes (docs/e2ee.md "Ordering and replay"); the same
// rules as collab.protocol.envelope.ReplayGuard, including the export/load format of heads.
import { EnvelopeType, ReorderedEnvelope, ReplayedEnvelope, type Opened } from "./envelope.js";
import { toHex } from "./bytes.js";

const TYPE_NAMES: Record<number, string> = { 1: "update", 2: "snapshot", 3: "awareness" };

export class ReplayGuard {
  private last = new Map<string, number>();

  /** Accept `opened` or throw; a failed check records nothing. */
  check(opened: Pick<Opened, "type" | "authorId" | "authorSeq">, allowGap = false): void {
    const author = toHex(opened.authorId);
    const key = `${opened.type}:${author}`;
    const last = this.last.get(key) ?? 0;
    const seq = opened.authorSeq;
    const who = `${TYPE_NAMES[opened.type]} ${seq} from author ${author}`;
    if (seq <= last) throw new ReplayedEnvelope(`${who} is a replay: ${last} was already accepted`);
    if (opened.type === EnvelopeType.UPDATE && seq !== last + 1 && !allowGap) {
      const missing = seq === last + 2 ? `${last + 1}` : `${last + 1}..${seq - 1}`;
      throw new ReorderedEnvelope(`${who} arrived but ${last + 1} was expected: updates ${missing} were reordered or withheld`, last + 1, seq);
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

  /** Adopt heads from a snapshot; a head never moves backwards. Validates everything first. */
  load(heads: Record<string, unknown>): void {
    const parsed: [string, number][] = [];
    for (const [author, seq] of Object.entries(heads)) {
      if (!/^[0-9a-fA-F]{32}$/.test(author)) throw new Error(`author head key ${JSON.stringify(author)} is not 16 bytes of hex`);
      if (typeof seq !== "number" || !Number.isSafeInteger(seq) || seq < 1) throw new Error(`author head for ${author} must be an integer >= 1`);
      parsed.push([author.toLowerCase(), seq]);
    }
    for (const [author, seq] of parsed) {
      const key = `${EnvelopeType.UPDATE}:${author}`;
      this.last.set(key, Math.max(this.last.get(key) ?? 0, seq));
    }
  }
}
