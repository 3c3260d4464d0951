// The invite-ack vectors (tests/vectors/invite_ack.json) against the page's checker: Python's acks
// verify here from the invite's ephemeral key, and every changed input fails (tests/crypto/test_invite_ack.py).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { b64urlDecode } from "../src/crypto/b64url.js";
import { fromHex, toHex, type Bytes } from "../src/crypto/bytes.js";
import { ackKey, ackMessage, readAck, verifyAck } from "../src/crypto/inviteack.js";
import { importX25519Private } from "../src/crypto/seal.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const V = JSON.parse(readFileSync(join(root, "tests", "vectors", "invite_ack.json"), "utf8"));
const S = JSON.parse(readFileSync(join(root, "tests", "vectors", "seal.json"), "utf8"));

for (const c of V.acks) {
  test(`the agent's ack verifies from the ephemeral key (${c.name})`, async () => {
    const invite = S.seals[V.seal_case].invite;
    const room = b64urlDecode(invite.room);
    const agentPublic = fromHex(S.agent.public);
    const ephPublic = b64urlDecode(invite.ephemeral);
    assert.equal(c.invite_id, invite.ephemeral);
    assert.equal(toHex(ackMessage(room, agentPublic, ephPublic, c.client, c.name)), c.message);
    const entry = readAck(c.entry);
    assert.ok(entry);
    assert.equal(entry.client, c.client);
    assert.equal(toHex(entry.mac), c.mac);
    const key = await ackKey(await importX25519Private(fromHex(V.ephemeral_private)), agentPublic, ephPublic);
    assert.equal(await verifyAck(key, room, agentPublic, ephPublic, c.client, c.name, entry.mac), true);
    for (const w of V.wrong) {
      const args: { client: number; name: string; mac: Bytes } = { client: c.client, name: c.name, mac: entry.mac, [w.field]: w.field === "mac" ? fromHex(w.value) : w.value };
      assert.equal(await verifyAck(key, room, agentPublic, ephPublic, args.client, args.name, args.mac), false, w.field);
    }
  });
}

test("document entries that are not acks are ignored", () => {
  const good = V.acks[0].entry;
  assert.equal(readAck(null), null);
  assert.equal(readAck({ ...good, client: 5 }), null); // a number, not the decimal text
  assert.equal(readAck({ ...good, client: "99999999999999999" }), null); // past 2^53
  assert.equal(readAck({ ...good, mac: "not base64url!" }), null);
  assert.equal(readAck({ ...good, agent: undefined }), null);
});
