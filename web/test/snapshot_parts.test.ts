// SNAPSHOT_PART frames (docs/protocol.md "Snapshots of any size"): the page cuts a snapshot as
// collab/protocol/relay_frames.py snapshot_parts() does, byte for byte.
import { test } from "node:test";
import assert from "node:assert/strict";
import { toHex } from "../src/crypto/bytes.js";
import { PART_FRAME_LIMIT, snapshotParts } from "../src/transport/snapshot_parts.js";

test("parts match Python's snapshot_parts(7, bytes(range(45)), 37)", () => {
  const envelope = Uint8Array.from({ length: 45 }, (_, i) => i);
  assert.deepEqual(snapshotParts(7, envelope, 37).map(toHex), [
    "150000000000000007000000000000002d000102030405060708090a0b0c0d0e0f10111213",
    "150000000000000007000000000000002d1415161718191a1b1c1d1e1f2021222324252627",
    "150000000000000007000000000000002d28292a2b2c",
  ]);
});

test("a 3 MiB snapshot goes in frames of at most 1 MiB + 17 bytes that add up to it", () => {
  const envelope = new Uint8Array(3 * 1024 * 1024 + 5).map((_, i) => i % 251);
  const parts = snapshotParts(1, envelope);
  assert.equal(parts.length, 4);
  assert.ok(parts.every((p) => p.length <= PART_FRAME_LIMIT));
  const joined = new Uint8Array(parts.reduce((n, p) => n + p.length - 17, 0));
  let at = 0;
  for (const p of parts) {
    joined.set(p.subarray(17), at);
    at += p.length - 17;
  }
  assert.deepEqual(joined, envelope);
});
