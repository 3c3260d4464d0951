// Gaps and reordering (docs/e2ee.md; issue 21): the page holds updates that come ahead of a gap,
// releases them when it closes, counts as received only what its document holds, and makes no
// snapshot over anything missing or rejected. The same vectors as tests/crypto/test_replay_guard.py
// and tests/client/test_room_log.py, against web/src/crypto/replay.ts and web/src/transport/roomlog.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as Y from "yjs";
import { fromHex } from "../src/crypto/bytes.js";
import { EnvelopeType, newAuthorId, openEnvelope, sealSnapshot, sealUpdate, type Opened } from "../src/crypto/envelope.js";
import { RoomKeys } from "../src/crypto/keys.js";
import { describeGap, ReplayGuard } from "../src/crypto/replay.js";
import { encodeSnapshot } from "../src/protocol/snapshot.js";
import { RoomLog } from "../src/transport/roomlog.js";

const AUTHOR = fromHex("000102030405060708090a0b0c0d0e0f");
const OTHER = new Uint8Array(16);
const up = (seq: number, author: Uint8Array = AUTHOR, plaintext?: Uint8Array): Opened => ({
  type: EnvelopeType.UPDATE,
  authorId: author as Opened["authorId"],
  authorSeq: seq,
  ref: 0,
  plaintext: (plaintext ?? new TextEncoder().encode(`u${seq}`)) as Opened["plaintext"],
});
const admitted = (g: ReplayGuard, seq: number, o: Opened) => g.admit(seq, o).map((h) => [h.seq, h.opened.authorSeq]);

test("the issue vector: 1, 2, 4, 5, 6 then 3 holds 4..6 and releases them in order", () => {
  const g = new ReplayGuard();
  assert.deepEqual(admitted(g, 1, up(1)), [[1, 1]]);
  assert.deepEqual(admitted(g, 2, up(2)), [[2, 2]]);
  for (const s of [4, 5, 6]) assert.deepEqual(admitted(g, s, up(s)), []);
  assert.equal(g.held, 3);
  assert.deepEqual(g.gaps(), [{ author: "000102030405060708090a0b0c0d0e0f", expected: 3, firstHeld: 4, held: 3 }]);
  assert.equal(describeGap(g.gaps()[0]!), "update 3 of author 00010203… (3 held behind it)");
  assert.deepEqual(g.export(), { "000102030405060708090a0b0c0d0e0f": 2 });
  assert.deepEqual(admitted(g, 3, up(3)), [[3, 3], [4, 4], [5, 5], [6, 6]]);
  assert.equal(g.held, 0);
  assert.deepEqual(g.export(), { "000102030405060708090a0b0c0d0e0f": 6 });
});

test("the same author seq twice is a replay, whether applied or held", () => {
  const g = new ReplayGuard();
  g.admit(1, up(1));
  assert.throws(() => g.admit(9, up(1)), { name: "ReplayedEnvelope", message: /1 was already accepted/ });
  assert.deepEqual(g.admit(3, up(3)), []);
  assert.deepEqual(g.admit(3, up(3)), []); // asked for again: still held, once
  assert.throws(() => g.admit(8, up(3)), { name: "ReplayedEnvelope", message: /already held as entry 3/ });
  assert.deepEqual(admitted(g, 2, up(2)), [[2, 2], [3, 3]]);
  assert.throws(() => g.admit(3, up(3)), { name: "ReplayedEnvelope" });
});

test("authors are held independently; what is held is bounded", () => {
  const g = new ReplayGuard();
  assert.deepEqual(g.admit(1, up(2)), []);
  assert.deepEqual(admitted(g, 2, up(1, OTHER)), [[2, 1]]);
  assert.deepEqual(admitted(g, 4, up(1)), [[4, 1], [1, 2]]);

  const small = new ReplayGuard(2);
  small.admit(1, up(1));
  for (const s of [3, 4, 5]) assert.deepEqual(small.admit(s, up(s)), []);
  assert.equal(small.held, 2);
  assert.equal(small.notKept, 1);
  assert.deepEqual(admitted(small, 2, up(2)), [[2, 2], [3, 3], [4, 4]]);
  assert.deepEqual(admitted(small, 5, up(5)), [[5, 5]]);

  const bytes = new ReplayGuard(1024, 10);
  bytes.admit(1, up(1));
  bytes.admit(3, up(3, AUTHOR, new Uint8Array(8)));
  bytes.admit(4, up(4, AUTHOR, new Uint8Array(8)));
  assert.equal(bytes.held, 1);
});

test("heads from a snapshot release and cover what is held", () => {
  const g = new ReplayGuard();
  for (const s of [3, 4, 6]) g.admit(s + 10, up(s));
  g.admit(20, up(2, OTHER));
  g.load({ "000102030405060708090a0b0c0d0e0f": 3 });
  const [ready, covered] = g.release();
  assert.deepEqual(covered.map((h) => [h.seq, h.opened.authorSeq]), [[13, 3]]);
  assert.deepEqual(ready.map((h) => [h.seq, h.opened.authorSeq]), [[14, 4]]);
  assert.deepEqual(g.gaps().map((x) => [x.author.slice(0, 4), x.expected]), [["0001", 5], ["0000", 1]]);
});

// --- the room's log, with real envelopes and a real Y.Doc ----------------------------------------

async function room(edits: number) {
  const keys = await RoomKeys.fromWriteSecret(fromHex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"));
  const source = new Y.Doc();
  const updates: Uint8Array[] = [];
  source.on("update", (u: Uint8Array) => updates.push(u));
  for (let i = 1; i <= edits; i++) source.getMap("kv").set(`e${i}`, i);
  const author = newAuthorId();
  const envelopes = await Promise.all(updates.map((u, i) => sealUpdate(keys, author, i + 1, u)));
  const doc = new Y.Doc();
  const warnings: string[] = [];
  const asked: string[] = [];
  let counted = 0;
  const guard = new ReplayGuard();
  const log = new RoomLog(
    keys,
    guard,
    {
      apply: (u) => Y.applyUpdate(doc, u),
      warn: (m) => warnings.push(m),
      updated: (n) => (counted += n),
      snapshotApplied: () => {},
      askAgain: (r) => asked.push(r),
    },
    10,
  );
  const send = async (...seqs: number[]) => {
    for (const s of seqs) await log.entry(s, envelopes[s - 1]!);
  };
  const keysOf = () => [...doc.getMap("kv").keys()].sort();
  return { keys, author, envelopes, log, guard, send, keysOf, warnings, asked, counted: () => counted, updates };
}

test("room log: held updates are not counted, then applied in order; nothing is lost", async () => {
  const r = await room(6);
  await r.send(1, 2, 4, 5, 6);
  assert.deepEqual(r.keysOf(), ["e1", "e2"]);
  assert.equal(r.log.since, 2);
  assert.match(r.log.missing()!, /^entries after 2 are missing \(update 3 of author [0-9a-f]{8}… \(3 held behind it\)\)$/);
  assert.equal(r.log.blocked(), r.log.missing());
  await r.send(3);
  assert.deepEqual(r.keysOf(), ["e1", "e2", "e3", "e4", "e5", "e6"]);
  assert.equal(r.log.since, 6);
  assert.equal(r.log.blocked(), null);
  assert.equal(r.counted(), 6);
  assert.deepEqual(r.warnings, []);
});

test("room log: a rejected entry keeps since below it and blocks snapshots; a replay blocks nothing", async () => {
  const r = await room(3);
  await r.send(1);
  await r.log.entry(2, r.envelopes[1]!.slice(0, -1));
  await r.log.entry(3, r.envelopes[1]!);
  assert.deepEqual(r.keysOf(), ["e1", "e2"]);
  assert.equal(r.log.since, 1);
  assert.equal(r.log.missing(), null);
  assert.equal(r.log.blocked(), "entries 2 were rejected, so this copy lacks them");
  assert.match(r.warnings[0]!, /^dropped entry 2: /);

  const s = await room(2);
  await s.send(1, 2);
  await s.log.entry(3, s.envelopes[0]!);
  assert.equal(s.log.since, 3);
  assert.equal(s.log.blocked(), null);
});

test("room log: a snapshot covers rejected entries and releases what its heads allow", async () => {
  const r = await room(5);
  await r.log.entry(1, new Uint8Array([1, 2, 3]) as never);
  await r.send(4, 5);
  assert.equal(r.log.since, 0);
  const state = new Y.Doc();
  for (const u of r.updates.slice(0, 3)) Y.applyUpdate(state, u);
  const heads = { [Buffer.from(r.author).toString("hex")]: 3 };
  const snapshot = await sealSnapshot(r.keys, newAuthorId(), 1, 3, encodeSnapshot({ heads, state: Y.encodeStateAsUpdate(state) as never }));
  assert.equal((await openEnvelope(r.keys, snapshot)).ref, 3);
  await r.log.entry(3, snapshot);
  assert.deepEqual(r.keysOf(), ["e1", "e2", "e3", "e4", "e5"]);
  assert.equal(r.log.since, 5);
  assert.equal(r.log.blocked(), null);
});

test("room log: asks again only on a synced connection, once the same thing stays missing", async () => {
  const r = await room(3);
  await r.send(1, 3);
  await new Promise((done) => setTimeout(done, 60));
  assert.deepEqual(r.asked, []); // not synced: history may still be coming
  r.log.synced(3);
  while (!r.asked.length) await new Promise((done) => setTimeout(done, 5));
  assert.match(r.asked[0]!, /^entries after 1 are missing \(update 2 of author .*\) for 0\.01 s: asking the hub again from seq 1$/);
  r.log.disconnected();
});
