// A snapshot envelope as SNAPSHOT_PART frames (0x15 · u64 client_ref · u64 total · piece), each at
// most `frameLimit` bytes: docs/protocol.md "Snapshots of any size", the same cut as
// collab/protocol/relay_frames.py snapshot_parts(). The hub answers the last part as it answers
// one SNAPSHOT frame.
import type { Bytes } from "../crypto/bytes.js";

export const SNAPSHOT_PART = 0x15;
export const PART_OVERHEAD = 17; // type, client_ref, total
// This page does not know the hub's --max-frame-bytes: 1 MiB parts pass any hub whose limit is at
// least 1 MiB + 17 (the default is 8 MiB).
export const PART_FRAME_LIMIT = 1024 * 1024 + PART_OVERHEAD;

export function snapshotParts(clientRef: number, envelope: Uint8Array, frameLimit = PART_FRAME_LIMIT): Bytes[] {
  const size = frameLimit - PART_OVERHEAD;
  if (size < 1) throw new Error(`a frame limit of ${frameLimit} bytes leaves no room for a part`);
  const parts: Bytes[] = [];
  for (let at = 0; at < envelope.length; at += size) {
    const piece = envelope.subarray(at, at + size);
    const frame = new Uint8Array(PART_OVERHEAD + piece.length);
    const view = new DataView(frame.buffer);
    frame[0] = SNAPSHOT_PART;
    view.setBigUint64(1, BigInt(clientRef));
    view.setBigUint64(9, BigInt(envelope.length));
    frame.set(piece, PART_OVERHEAD);
    parts.push(frame);
  }
  return parts;
}
