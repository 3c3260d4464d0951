// The key-epoch vectors (tests/vectors/epochs.json) against the browser's code: epoch keys and links,
// rotation boxes, rotation envelopes (opened, sealed byte for byte, tampered ones refused) and the
// running log hash; tests/crypto/test_epoch_vectors.py checks Python against the same file.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { fromHex, toHex } from "../src/crypto/bytes.js";
import { RoomKeys } from "../src/crypto/keys.js";
import { parseLink, readLink, writeLink } from "../src/crypto/links.js";
import { importX25519Private } from "../src/crypto/seal.js";
import { Keyring, Removed, RotationError, openBox, openRotation, parseRotation, sealBox, sealRotation } from "../src/crypto/epochs.js";
import { LogHash } from "../src/crypto/loghash.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const V = JSON.parse(readFileSync(join(root, "tests", "vectors", "epochs.json"), "utf8"));
const room = fromHex(V.room.room_id);
const device = (name: string) => importX25519Private(fromHex(V.devices[name].private));
const room0 = () => RoomKeys.fromWriteSecret(fromHex(V.room.write_secret));

for (const c of V.epochs) {
  test(`epoch ${c.epoch} keys and links`, async () => {
    const keys = await RoomKeys.forEpoch(room, c.epoch, { writeSecret: fromHex(c.write_secret) });
    assert.equal(toHex(keys.writePublicKey), c.write_public_key);
    assert.equal(toHex(keys.readSecret), c.read_secret);
    assert.equal(toHex(keys.raw.docKey), c.doc_key);
    assert.equal(toHex(keys.raw.awarenessKey), c.awareness_key);
    assert.equal(toHex(keys.readerPublicKey), c.reader_public_key);
    const base = "https://hub.example";
    assert.equal(writeLink(base, keys).split("#")[1], c.write_fragment);
    assert.equal(readLink(base, keys).split("#")[1], c.read_fragment);
    const reader = (await parseLink(`${base}/s/${V.room.room_id_b64url}#${c.read_fragment}`)).keys!;
    assert.equal(reader.canWrite, false);
    assert.equal(reader.epoch, c.epoch);
    assert.equal(toHex(reader.raw.docKey), c.doc_key);
    const other = await RoomKeys.forEpoch(room, c.epoch, { readSecret: keys.readSecret, writePublicKey: (await room0()).writePublicKey });
    assert.notEqual(toHex(other.raw.docKey), c.doc_key); // another write key opens nothing
  });
}

for (const c of V.boxes) {
  test(`the ${c.device} device's box seals to the vector and opens for it only`, async () => {
    const dev = await device(c.device);
    const box = await sealBox(room, 1, fromHex(V.devices[c.device].public), new TextEncoder().encode(c.plaintext) as Uint8Array<ArrayBuffer>, {
      ephemeralPrivate: fromHex(c.ephemeral_private),
      nonce: fromHex(c.nonce),
    });
    assert.equal(toHex(box), c.box);
    assert.equal(new TextDecoder().decode((await openBox(room, 1, dev, fromHex(c.box)))!), c.plaintext);
    assert.equal(await openBox(room, 1, await device("removed"), fromHex(c.box)), null);
    assert.equal(await openBox(room, 2, dev, fromHex(c.box)), null);
  });
}

test("the rotation opens for each kept device, seals back byte for byte, and not for the removed one", async () => {
  const r = V.rotation;
  const old = await room0();
  for (const [name, writer] of [["kept", true], ["reader", false]] as const) {
    const opened = await openRotation(fromHex(r.envelope), old, await device(name));
    assert.equal(opened.keys.epoch, 1);
    assert.equal(opened.keys.canWrite, writer);
    assert.equal(toHex(opened.keys.writePublicKey), r.new_write_public_key);
    assert.equal(toHex(opened.chain.get(0)!.readSecret), r.chain[0].read_secret);
    assert.deepEqual([...opened.starts], [[1, 2]]);
    assert.deepEqual(opened.removed, ["cy"]);
    assert.equal(toHex(opened.logHash!), r.log_hash);
  }
  await assert.rejects(openRotation(fromHex(r.envelope), old, await device("removed")), Removed);
  const e1 = await RoomKeys.forEpoch(room, 1, { writeSecret: fromHex(V.epochs[0].write_secret) });
  const joined = await openRotation(fromHex(r.envelope), e1, null);
  assert.equal(toHex(joined.chain.get(0)!.writePublicKey), V.room.write_public_key);
  const rot = parseRotation(fromHex(r.envelope));
  const again = await sealRotation(old, e1, {
    ref: 2, chain: new Map(), starts: new Map(), boxes: rot.boxes, authorId: fromHex(r.author_id), removed: ["cy"],
    logHash: fromHex(r.log_hash), nonce: rot.header.slice(57),
  });
  assert.equal(toHex(again), r.envelope);
});

test("a device two epochs behind follows the latest rotation; the keyring reads every epoch", async () => {
  const r2 = V.rotation2;
  const old = await room0();
  const opened = await openRotation(fromHex(r2.envelope), old, await device("kept"));
  assert.equal(opened.keys.epoch, 2);
  assert.equal(toHex(opened.keys.writePublicKey), r2.new_write_public_key);
  assert.deepEqual([...opened.chain.keys()].sort(), [0, 1]);
  const ring = new Keyring(old);
  await ring.advance(opened.keys, opened.chain, opened.starts);
  assert.equal(ring.forEntry(2, 0)?.epoch, 0);
  assert.equal(ring.forEntry(3, 0), null); // an epoch-0 entry after the rotation that ended it
  assert.equal(ring.forEntry(5, 1)?.epoch, 1);
  assert.equal(ring.forEntry(6, 1), null);
  assert.equal(ring.forEntry(9, 2)?.epoch, 2);
});

for (const c of V.rotation_tampered) {
  test(`a tampered rotation is refused: ${c.why}`, async () => {
    await assert.rejects(
      openRotation(fromHex(c.envelope), await room0(), await device("kept")),
      (err: unknown) => err instanceof RotationError && !(err instanceof Removed),
    );
  });
}

test("new rooms bind the write key into the room id; a re-issued read link with another key fails", async () => {
  const b = V.bound;
  const keys = await RoomKeys.fromWriteSecret(fromHex(V.room.write_secret), true);
  assert.equal(keys.roomId, b.room_id_b64url);
  const base = `https://hub.example/s/${b.room_id_b64url}#`;
  for (const fragment of [b.write_fragment, b.read_fragment]) {
    const parsed = (await parseLink(base + fragment)).keys!;
    assert.equal(parsed.roomId, keys.roomId);
    assert.equal(toHex(parsed.raw.docKey), toHex(keys.raw.docKey));
  }
  await assert.rejects(parseLink(base + b.forged_read_fragment), /does not match the room its key opens/);
  const old = (await parseLink(`https://hub.example/s/${V.room.room_id_b64url}#${b.write_fragment}`)).keys!;
  assert.equal(old.roomId, V.room.room_id_b64url);
});

test("the running log hash", async () => {
  const h = new LogHash();
  assert.equal(toHex(h.digest), V.log.hashes[0]);
  const entries = V.log.entries.map(fromHex);
  await h.entry(2, entries[1]); // out of order: folded once 1 is in
  assert.equal(h.seq, 0);
  await h.entry(1, entries[0]);
  assert.equal(toHex(h.digest), V.log.hashes[2]);
  await h.entry(3, entries[2]);
  assert.equal(toHex(h.digest), V.log.hashes[3]);
  assert.equal(h.code, V.log.code);
});

test("an agent invite to a rotated room carries its epoch and opens to that epoch's keys", async () => {
  const { sealInvite, unsealInvite } = await import("../src/crypto/seal.js");
  const agent = await device("kept");
  const e1 = await RoomKeys.forEpoch(room, 1, { writeSecret: fromHex(V.epochs[0].write_secret) });
  for (const keys of [e1, await e1.readOnly()]) {
    const opened = await unsealInvite(await sealInvite(keys, fromHex(V.devices.kept.public)), agent);
    assert.equal(opened.epoch, 1);
    assert.equal(opened.canWrite, keys.canWrite);
    assert.equal(toHex(opened.raw.docKey), V.epochs[0].doc_key);
  }
});
