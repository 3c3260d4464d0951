// Fork detection: the running hash of the room's log (collab/protocol/log_hash.py, docs/e2ee.md
// "Fork detection"): h(n) = SHA-256("collab v1 log" || h(n-1) || u64 n || SHA-256(envelope n)),
// folded in hub seq order; snapshots carry their writer's h, presence gossips (epoch, seq, h).
import { bytes, concat, toHex, u64, utf8, type Bytes } from "./bytes.js";

const LABEL = utf8("collab v1 log");
export const ZERO: Bytes = new Uint8Array(32);
const KEEP = 4096;

async function sha256(data: Uint8Array): Promise<Bytes> {
  return bytes(await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>));
}

async function step(previous: Bytes, seq: number, inner: Bytes): Promise<Bytes> {
  return sha256(concat(LABEL, previous, u64(seq), inner));
}

export async function fold(previous: Bytes, seq: number, envelope: Uint8Array): Promise<Bytes> {
  return step(previous, seq, await sha256(envelope));
}

/** What people read to each other: the seq and 8 hex digits, e.g. `1234:9f3a-07c1`. */
export function logCode(seq: number, digest: Bytes): string {
  const hex = toHex(digest.subarray(0, 4));
  return `${seq}:${hex.slice(0, 4)}-${hex.slice(4)}`;
}

export class LogHash {
  seq = 0;
  digest: Bytes = ZERO;
  anchored = true; // false after a snapshot that commits to no hash: not comparable with others'
  private waiting = new Map<number, Bytes>();
  private recent = new Map<number, Bytes>([[0, ZERO]]);

  async entry(seq: number, envelope: Uint8Array): Promise<void> {
    if (seq <= this.seq || this.waiting.has(seq)) return;
    this.waiting.set(seq, await sha256(envelope));
    await this.catchUp();
  }

  async startAt(seq: number, digest: Bytes | null): Promise<void> {
    if (seq <= this.seq) return;
    this.anchored = digest !== null;
    this.seq = seq;
    this.digest = digest ?? ZERO;
    for (const s of [...this.waiting.keys()]) if (s <= seq) this.waiting.delete(s);
    this.recent.clear();
    this.remember();
    await this.catchUp();
  }

  at(seq: number): Bytes | null {
    return this.anchored ? (this.recent.get(seq) ?? null) : null;
  }

  get code(): string {
    return logCode(this.seq, this.digest);
  }

  private async catchUp(): Promise<void> {
    while (this.waiting.has(this.seq + 1)) {
      const inner = this.waiting.get(this.seq + 1)!;
      this.waiting.delete(this.seq + 1);
      this.digest = await step(this.digest, this.seq + 1, inner);
      this.seq += 1;
      this.remember();
    }
  }

  private remember(): void {
    this.recent.set(this.seq, this.digest);
    if (this.recent.size > KEEP) this.recent.delete(this.recent.keys().next().value!);
  }
}
