// The room's log as this page holds it: each ENTRY opened, checked, then applied or held. The same
// rules as collab/client/room_log.py (docs/e2ee.md "Gaps and reordering"):
//
// - only what the document holds counts as received: an update ahead of its author's gap is held
//   (crypto/replay.ts) and not counted until the gap closes; a rejected entry keeps `since` below
//   it. `since` is what HELLO asks from and what a snapshot covers, so both come again on the next
//   connection and a snapshot never says an update it lacks was seen (issue 21);
// - once the same thing has been missing for `askWait` ms on a synced connection, `askAgain` is
//   called (the transport resumes on a new connection, HELLO since: the protocol's way to ask);
//   each time the same thing is still missing after asking, the wait doubles, up to a minute;
// - blocked() says why no snapshot may be made now: anything missing, or anything rejected.
import type { Bytes } from "../crypto/bytes.js";
import { EnvelopeType, ReplayedEnvelope, WrongEpoch, openEnvelope, parseEnvelope, type Envelope } from "../crypto/envelope.js";
import { Keyring } from "../crypto/epochs.js";
import type { RoomKeys } from "../crypto/keys.js";
import { LogHash } from "../crypto/loghash.js";
import { describeGap, type Held, type ReplayGuard } from "../crypto/replay.js";
import { decodeSnapshot, snapshotLogHash } from "../protocol/snapshot.js";
import { Watermark } from "./watermark.js";

const MAX_ASK_WAIT = 60_000;

export interface RoomLogHooks {
  /** Apply a Yjs update to the document (may throw on garbage). */
  apply(update: Uint8Array): void;
  /** Something was dropped: tell the user. */
  warn(message: string): void;
  /** `count` more updates are in the document (compaction counts them). */
  updated(count: number): void;
  /** A snapshot was applied: count from zero again. */
  snapshotApplied(): void;
  /** Entries have been missing too long: end this connection and resume from `since`. */
  askAgain(reason: string): void;
  /** Someone committed to another log than ours (fork detection, docs/e2ee.md). */
  fork?(message: string): void;
}

export class RoomLog {
  readonly seen = new Watermark(); // entries dealt with: applied, replays of what is applied, rejected
  rejected = new Set<number>(); // entries dropped whose content the document lacks
  head = 0; // the hub's head as of the last SYNCED
  readonly hash = new LogHash(); // fork detection (web/src/crypto/loghash.ts)
  private readonly keyring: Keyring;
  private live = false;
  private wait: number;
  private lastKey: string | null = null;
  private askedFor: string | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    keys: Keyring | RoomKeys,
    private readonly guard: ReplayGuard,
    private readonly hooks: RoomLogHooks,
    private readonly askWait = 2000,
  ) {
    this.keyring = keys instanceof Keyring ? keys : new Keyring(keys);
    this.wait = askWait;
  }

  /** Every entry up to this one is in the document (HELLO since; what a snapshot covers). */
  get since(): number {
    let since = this.seen.upto;
    for (const s of this.rejected) since = Math.min(since, s - 1); // a loop: a hostile log may hold many
    return since;
  }

  private holed(): boolean {
    return this.seen.gap || this.head > this.seen.upto;
  }

  /** What the hub has not given us, in words; null when nothing is missing. */
  missing(): string | null {
    const gaps = this.guard.gaps();
    if (!gaps.length && !this.holed()) return null;
    const what = gaps.length
      ? gaps.slice(0, 3).map(describeGap).join("; ") + (gaps.length > 3 ? `; ${gaps.length - 3} more authors` : "")
      : `the hub has entries up to ${Math.max(this.head, this.seen.highest)}`;
    return `entries after ${this.seen.upto} are missing (${what})`;
  }

  /** Why a snapshot must not be made now (it would say that what we lack was seen), or null. */
  blocked(): string | null {
    const missing = this.missing();
    if (missing) return missing;
    if (!this.rejected.size) return null;
    const sorted = [...this.rejected].sort((a, b) => a - b);
    return `entries ${sorted.slice(0, 5).join(", ")}${sorted.length > 5 ? ", …" : ""} were rejected, so this copy lacks them`;
  }

  private missingKey(): string | null {
    const gaps = this.guard.gaps();
    if (!gaps.length && !this.holed()) return null;
    return `${this.seen.upto}|${gaps.map((g) => `${g.author}:${g.expected}`).sort().join(",")}`;
  }

  // --- what the connection says ---------------------------------------------------------------

  synced(head: number): void {
    this.head = head;
    this.live = true;
    this.lastKey = null;
    this.schedule();
  }

  disconnected(): void {
    this.live = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Our own update is stored as entry `seq` (the document has it: we made it). */
  acked(seq: number, envelope?: Uint8Array): void {
    this.seen.saw(seq);
    if (envelope) void this.hash.entry(seq, envelope);
  }

  /** Compare a hash someone committed to at `seq` with ours; false (and said) when they differ. */
  checkHash(seq: number, digest: Uint8Array, what: string): boolean {
    const mine = this.hash.at(seq);
    if (!mine || mine.subarray(0, digest.length).every((b, i) => b === digest[i])) return true;
    this.hooks.fork?.(`${what} at seq ${seq} was shown another log than this page (log code here ${this.hash.code}): the hub may be showing members different histories`);
    return false;
  }

  private keysFor(seq: number, env: Envelope): RoomKeys {
    const keys = this.keyring.forEntry(seq, env.epoch);
    if (keys) return keys;
    const current = this.keyring.epoch;
    if (env.epoch < current) throw new WrongEpoch(`entry ${seq} is of key epoch ${env.epoch}, after the rotation that ended it (or this page lacks that epoch's keys)`);
    throw new WrongEpoch(`entry ${seq} is of key epoch ${env.epoch}; this page is at epoch ${current}`);
  }

  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.tick(), this.wait);
  }

  private tick(): void {
    this.timer = null;
    if (!this.live) return;
    const key = this.missingKey();
    if (key === null) {
      this.wait = this.askWait;
      this.askedFor = null;
    } else if (key === this.lastKey) {
      const waited = this.wait;
      if (key === this.askedFor) this.wait = Math.min(this.wait * 2, MAX_ASK_WAIT);
      this.askedFor = key;
      this.live = false; // until the next connection syncs
      this.hooks.askAgain(`${this.missing()} for ${waited / 1000} s: asking the hub again from seq ${this.since}`);
      return;
    }
    this.lastKey = key;
    this.schedule();
  }

  // --- entries ---------------------------------------------------------------------------------

  async entry(seq: number, data: Bytes): Promise<void> {
    let env: Envelope;
    try {
      env = parseEnvelope(data);
    } catch (err) {
      await this.hash.entry(seq, data);
      this.refuse(seq, err);
      return;
    }
    if (env.type === EnvelopeType.SNAPSHOT) return this.snapshot(seq, env);
    await this.hash.entry(seq, data);
    if (this.seen.has(seq)) return; // the same hub entry again (history overlapping a resume)
    let ready: Held[];
    try {
      if (env.type !== EnvelopeType.UPDATE) throw new Error(`an entry must be an update, got type ${env.type}`);
      const opened = await openEnvelope(this.keysFor(seq, env), env);
      try {
        ready = this.guard.admit(seq, opened);
      } catch (err) {
        if (!(err instanceof ReplayedEnvelope)) throw err;
        this.seen.saw(seq); // an honest resend after a reconnect: what it carries is in the document
        return;
      }
    } catch (err) {
      this.refuse(seq, err);
      return;
    }
    this.applyAll(ready);
  }

  private applyAll(ready: Held[]): void {
    let applied = 0;
    for (const item of ready) {
      try {
        this.hooks.apply(item.opened.plaintext);
      } catch (err) {
        this.refuse(item.seq, err);
        continue;
      }
      this.seen.saw(item.seq);
      applied++;
    }
    // Counted (and maybe compacted) only once all are in: the guard's heads already name the last
    // one released, so a snapshot in between would claim an update its state lacks.
    if (applied) this.hooks.updated(applied);
  }

  private async snapshot(seq: number, env: Envelope): Promise<void> {
    if (seq <= this.since) return; // we already hold everything it covers
    let committed: Uint8Array | null = null;
    try {
      const opened = await openEnvelope(this.keysFor(seq, env), env);
      committed = snapshotLogHash(opened.plaintext);
      if (opened.ref !== seq) throw new Error(`the hub labelled a snapshot covering ${opened.ref} as seq ${seq}`);
      const content = decodeSnapshot(opened.plaintext);
      this.guard.check(opened);
      this.hooks.apply(content.state);
      this.guard.load(content.heads);
    } catch (err) {
      // The entries it replaces are gone from the hub: nothing to ask for, and nothing to compact.
      this.seen.advance(seq);
      this.rejected.add(seq);
      this.hooks.warn(`dropped the room snapshot at ${seq}: ${(err as Error).message}`);
      return;
    }
    this.seen.advance(seq);
    this.rejected = new Set([...this.rejected].filter((s) => s > seq));
    if (committed) this.checkHash(seq, committed, "a snapshot");
    await this.hash.startAt(seq, committed ? new Uint8Array(committed) as Bytes : null);
    this.hooks.snapshotApplied();
    const [ready, covered] = this.guard.release();
    for (const item of covered) this.seen.saw(item.seq); // the snapshot's heads say its state has it
    this.applyAll(ready);
  }

  private refuse(seq: number, err: unknown): void {
    this.seen.saw(seq);
    this.rejected.add(seq);
    this.hooks.warn(`dropped entry ${seq}: ${(err as Error).message}`);
  }
}
