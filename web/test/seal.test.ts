// The sealed-invite test vectors (tests/vectors/seal.json) against the WebCrypto code pages run:
// fixed inputs seal to exactly the bytes Python produces, Python's invites open here, and both
// refuse the same tampered invites for the same reason (tests/ai_web/test_seal_vectors.py).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { fromHex, toHex } from "../src/crypto/bytes.js";
import { b64urlEncode } from "../src/crypto/b64url.js";
import { RoomKeys } from "../src/crypto/keys.js";
import { agentPublicKey, fingerprint, importX25519Private, sealInvite, SealError, unsealInvite, x25519PublicOf } from "../src/crypto/seal.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const V = JSON.parse(readFileSync(join(root, "tests", "vectors", "seal.json"), "utf8"));

async function roomKeys(secret: string): Promise<RoomKeys> {
  const keys = await RoomKeys.fromWriteSecret(fromHex(V.room.write_secret));
  return secret === "write" ? keys : RoomKeys.fromReadCapability(keys.readSecret, keys.writePublicKey);
}

test("seal vectors: format, agent key and fingerprint", async () => {
  assert.equal(V.format, "collab-seal-vectors");
  assert.equal(V.version, 1);
  const agent = await importX25519Private(fromHex(V.agent.private));
  assert.equal(toHex(await x25519PublicOf(agent)), V.agent.public);
  assert.equal(toHex(agentPublicKey(V.agent.public_b64url)), V.agent.public);
  assert.equal(await fingerprint(fromHex(V.agent.public)), V.agent.fingerprint);
  const keys = await roomKeys("write");
  assert.equal(keys.roomId, V.room.room_id);
  assert.equal(toHex(keys.readCapability), V.room.read_capability);
});

for (const c of V.seals) {
  test(`sealing fixed inputs gives the vector (${c.secret} secret)`, async () => {
    const keys = await roomKeys(c.secret);
    const sealed = await sealInvite(keys, fromHex(V.agent.public), { ephemeralPrivate: fromHex(c.ephemeral_private), nonce: fromHex(c.nonce) });
    assert.deepEqual(sealed, c.invite);
    assert.equal(toHex(await x25519PublicOf(await importX25519Private(fromHex(c.ephemeral_private)))), c.ephemeral_public);
  });

  test(`the vector's invite opens back to the room (${c.secret} secret)`, async () => {
    const keys = await roomKeys(c.secret);
    const opened = await unsealInvite(c.invite, await importX25519Private(fromHex(V.agent.private)));
    assert.equal(opened.roomId, keys.roomId);
    assert.equal(opened.canWrite, c.secret === "write");
    assert.equal(toHex(opened.readCapability), toHex(keys.readCapability));
    if (keys.writeSecret) assert.equal(b64urlEncode(opened.writeSecret!), b64urlEncode(keys.writeSecret));
  });
}

test("a fresh (random) seal opens too", async () => {
  const keys = await roomKeys("write");
  const sealed = await sealInvite(keys, fromHex(V.agent.public));
  assert.notEqual(sealed.ciphertext, V.seals[0].invite.ciphertext);
  const opened = await unsealInvite(sealed, await importX25519Private(fromHex(V.agent.private)));
  assert.equal(opened.roomId, keys.roomId);
});

for (const c of V.tampered) {
  test(`refused: ${c.why}`, async () => {
    const agent = await importX25519Private(fromHex(c.agent_private ?? V.agent.private));
    await assert.rejects(unsealInvite(c.invite, agent), (err: Error) => {
      assert.equal(err.name, c.error);
      assert.ok(err instanceof SealError);
      assert.equal(err.reason, c.reason, `${c.why}: ${err.message}`);
      assert.ok(!err.message.includes(V.room.write_secret));
      return true;
    });
  });
}
