// The plaintext sealed inside a snapshot envelope: the Yjs state plus the replay guard's author
// heads, so replay checks continue after a client joins from the snapshot. Same layout as
// collab.client.encrypted.encode_snapshot:
//   u32 BE length | JSON {"heads": {author id hex: last update seq}} (UTF-8) | Yjs state update
import { bytes, concat, type Bytes } from "../crypto/bytes.js";

export interface SnapshotContent {
  heads: Record<string, number>;
  state: Uint8Array;
}

export function encodeSnapshot(content: SnapshotContent, logHash: Uint8Array | null = null): Bytes {
  // "log": the writer's running hash of the log at the seq it covers (web/src/crypto/loghash.ts).
  const body: Record<string, unknown> = { heads: content.heads };
  if (logHash) body.log = [...logHash].map((b) => b.toString(16).padStart(2, "0")).join("");
  const meta = new TextEncoder().encode(JSON.stringify(body));
  const length = new Uint8Array(4);
  new DataView(length.buffer).setUint32(0, meta.length);
  return concat(length, meta, content.state);
}

export function decodeSnapshot(data: Uint8Array): SnapshotContent {
  if (data.length < 4) throw new Error("snapshot plaintext is truncated");
  const n = new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(0);
  if (4 + n > data.length) throw new Error("snapshot metadata runs past the end");
  const meta = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(data.subarray(4, 4 + n)));
  const heads = meta?.heads;
  if (typeof heads !== "object" || heads === null || Array.isArray(heads)) throw new Error("snapshot metadata has no author heads");
  return { heads, state: bytes(data.subarray(4 + n)) };
}

/** The log hash a snapshot commits to, or null (none: made before fork detection). */
export function snapshotLogHash(data: Uint8Array): Uint8Array | null {
  try {
    const n = new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(0);
    const meta = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(data.subarray(4, 4 + n)));
    const hex = meta?.log;
    if (typeof hex !== "string" || !/^[0-9a-f]{64}$/.test(hex)) return null;
    return Uint8Array.from(hex.match(/../g)!.map((h: string) => parseInt(h, 16)));
  } catch {
    return null;
  }
}
