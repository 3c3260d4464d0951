// The key of the browser's own copy of a room (web/src/crypto/keys.ts localStoreKey): a write
// link's copy is sealed under a key only the write secret derives, so a reader who can reach the
// profile cannot seal a record the writer's page would open (and sign and send what it holds).
import { test } from "node:test";
import assert from "node:assert/strict";
import { bytes, concat, randomBytes, type Bytes } from "../src/crypto/bytes.js";
import { hkdfSha256, localStoreKey, RoomKeys } from "../src/crypto/keys.js";
import { LocalSeal } from "../src/storage/local_seal.js";

async function sealed(key: CryptoKey, plain: Uint8Array): Promise<{ iv: Bytes; data: ArrayBuffer }> {
  const iv = randomBytes(12);
  return { iv, data: await crypto.subtle.encrypt({ name: "AES-GCM", iv }, key, bytes(plain)) };
}

async function opens(key: CryptoKey, box: { iv: Bytes; data: ArrayBuffer }): Promise<boolean> {
  try {
    await crypto.subtle.decrypt({ name: "AES-GCM", iv: box.iv }, key, box.data);
    return true;
  } catch {
    return false;
  }
}

test("a reader cannot seal what a writer's copy opens; each link kind opens its own", async () => {
  const writer = await RoomKeys.fromWriteSecret(randomBytes(32));
  const reader = await RoomKeys.fromReadCapability(writer.readSecret, writer.writePublicKey);
  const writerKey = await localStoreKey(writer);
  const readerKey = await localStoreKey(reader);
  const planted = await sealed(readerKey, new TextEncoder().encode("planted edit"));
  assert.equal(await opens(writerKey, planted), false);
  assert.equal(await opens(readerKey, planted), true);
  assert.equal(await opens(writerKey, await sealed(writerKey, new Uint8Array([1, 2, 3]))), true);
  // Deterministic: the same write secret opens the copy in another session of the page.
  const again = await localStoreKey(await RoomKeys.fromWriteSecret(writer.writeSecret!));
  assert.equal(await opens(again, await sealed(writerKey, new Uint8Array([4]))), true);
});

// Before ca658b6 a write link's copy was sealed under HKDF(R, "collab v1 local-store"): the writer's
// page must still open such a copy (its unsent edits are sent, not lost) and re-seal it under its own key.
test("a writer's copy sealed under the old read-secret key opens via the fallback and is re-sealed", async () => {
  const writer = await RoomKeys.fromWriteSecret(randomBytes(32));
  const aad = new TextEncoder().encode("collab local-store v1\nw\nhttp://hub\nroom");
  const oldRaw = await hkdfSha256(writer.readSecret, "collab v1 local-store", 32);
  const oldKey = await crypto.subtle.importKey("raw", oldRaw, "AES-GCM", false, ["encrypt", "decrypt"]);
  const iv = randomBytes(12);
  const edit = new TextEncoder().encode("edit typed offline before the upgrade");
  const old = concat(iv, bytes(await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: aad }, oldKey, bytes(edit))));

  const seal = await LocalSeal.of(writer);
  const opened = await seal.open(old, aad);
  assert.equal(opened.legacy, true);
  assert.deepEqual(opened.payload, edit);
  const resealed = await seal.seal(opened.payload, aad);
  const reopened = await seal.open(resealed, aad);
  assert.equal(reopened.legacy, false);
  assert.deepEqual(reopened.payload, edit);
  // Re-sealed under the writer's key: the old key (which any reader derives) no longer opens it.
  assert.equal(await opens(oldKey, { iv: bytes(resealed.subarray(0, 12)), data: bytes(resealed.subarray(12)).buffer }), false);
  // The associated data still binds the room: the fallback does not open another room's copy.
  await assert.rejects(seal.open(old, new TextEncoder().encode("collab local-store v1\nw\nhttp://hub\nother")));
});

test("a copy that opens under neither key is refused; a reader's seal has no fallback to fall to", async () => {
  const writer = await RoomKeys.fromWriteSecret(randomBytes(32));
  const reader = await RoomKeys.fromReadCapability(writer.readSecret, writer.writePublicKey);
  const aad = new TextEncoder().encode("collab local-store v1\nw\nhttp://hub\nroom");
  const stranger = await LocalSeal.of(await RoomKeys.fromWriteSecret(randomBytes(32)));
  await assert.rejects((await LocalSeal.of(writer)).open(await stranger.seal(new Uint8Array([1]), aad), aad));
  // A writer's current copy does not open for a reader.
  const writers = await (await LocalSeal.of(writer)).seal(new Uint8Array([2]), aad);
  await assert.rejects((await LocalSeal.of(reader)).open(writers, aad));
  const readers = await (await LocalSeal.of(reader)).seal(new Uint8Array([3]), aad);
  assert.deepEqual(await (await LocalSeal.of(reader)).open(readers, aad), { payload: new Uint8Array([3]), legacy: false });
});
