// The plaintext sealed inside a snapshot envelope: the Yjs state plus the replay guard's author
// heads, so replay checks continue after a client joins from the snapshot. Same layout as
// collab.client.encrypted.encode_snapshot:
//   u32 BE length | JSON {"heads": {author id hex: last update seq}} (UTF-8) | Yjs state update
import { bytes, concat, type Bytes } from "../crypto/bytes.js";

export interface SnapshotContent {
  heads: Record<string, number>;
  state: Uint8Array;
}

export function encodeSnapshot(content: SnapshotContent): Bytes {
  const meta = new TextEncoder().encode(JSON.stringify({ heads: content.heads }));
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
