// The key of the browser's own copy of a room (web/src/crypto/keys.ts localStoreKey): a write
// link's copy is sealed under a key only the write secret derives, so a reader who can reach the
// profile cannot seal a record the writer's page would open (and sign and send what it holds).
import { test } from "node:test";
import assert from "node:assert/strict";
import { bytes, randomBytes, type Bytes } from "../src/crypto/bytes.js";
import { localStoreKey, RoomKeys } from "../src/crypto/keys.js";

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
