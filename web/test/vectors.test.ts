// The shared E2EE test vectors (tests/vectors/e2ee.json) against the WebCrypto implementation.
// Node 20 has WebCrypto Ed25519, so this runs the same code the browser runs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { fromHex, toHex } from "../src/crypto/bytes.js";
import { b64urlDecode, b64urlEncode } from "../src/crypto/b64url.js";
import { hkdfSha256, RoomKeys } from "../src/crypto/keys.js";
import { authMessage, signChallenge, signReaderChallenge, verifyChallenge } from "../src/crypto/auth.js";
import { openEnvelope, parseEnvelope, sealAwareness, sealSnapshot, sealUpdate, EnvelopeType } from "../src/crypto/envelope.js";
import { parseLink, readLink, websocketUrl, writeLink, plaintextLink } from "../src/crypto/links.js";
import { ReplayGuard } from "../src/crypto/replay.js";

// test-build/ sits next to test/, so the repository root is two levels up either way.
const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const V = JSON.parse(readFileSync(join(root, "tests", "vectors", "e2ee.json"), "utf8"));

const writeKeys = () => RoomKeys.fromWriteSecret(fromHex(V.write_secret));

test("vectors: format", () => {
  assert.equal(V.format, "collab-e2ee-vectors");
  assert.equal(V.version, 1);
});

test("HKDF derivation gives every derived value", async () => {
  const S = fromHex(V.write_secret);
  const d = V.derived;
  assert.equal(toHex(await hkdfSha256(S, V.hkdf.info.write_auth_seed, 32)), d.write_auth_seed);
  assert.equal(toHex(await hkdfSha256(S, V.hkdf.info.read_secret, 32)), d.read_secret);
  const keys = await writeKeys();
  assert.equal(toHex(keys.raw.writeAuthSeed!), d.write_auth_seed);
  assert.equal(toHex(keys.writePublicKey), d.write_public_key);
  assert.equal(toHex(keys.readSecret), d.read_secret);
  assert.equal(toHex(keys.roomIdBytes), d.room_id_bytes);
  assert.equal(keys.roomId, d.room_id);
  assert.equal(toHex(keys.raw.docKey), d.doc_key);
  assert.equal(toHex(keys.raw.awarenessKey), d.awareness_key);
  assert.equal(toHex(keys.readCapability), d.read_capability);
  assert.equal(b64urlEncode(keys.writeSecret!), d.write_secret_b64url);
  assert.equal(b64urlEncode(keys.readCapability), d.read_capability_b64url);
  assert.equal(toHex(b64urlDecode(d.read_capability_b64url)), d.read_capability);
  const reader = await RoomKeys.fromReadCapability(fromHex(d.read_secret), fromHex(d.write_public_key));
  assert.equal(reader.roomId, d.room_id);
  assert.equal(reader.canWrite, false);
  assert.equal(toHex(await hkdfSha256(keys.readSecret, V.hkdf.info.reader_auth_seed, 32)), d.reader_auth_seed);
  assert.equal(toHex(reader.raw.readerAuthSeed), d.reader_auth_seed);
  assert.equal(toHex(reader.readerPublicKey), d.reader_public_key);
  assert.equal(toHex(keys.readerPublicKey), d.reader_public_key);
  assert.doesNotMatch(String(keys), new RegExp(d.write_secret_b64url));
});

test("links are built and parsed like Python does", async () => {
  const keys = await writeKeys();
  const L = V.links;
  assert.equal(writeLink(L.server_base, keys), L.write_link);
  assert.equal(readLink(L.server_base, keys), L.read_link);
  assert.equal(plaintextLink(L.server_base, "plain-room"), L.plaintext_link);
  assert.equal(websocketUrl(L.server_base, keys.roomId), L.websocket_url);
  for (const c of V.parse_links) {
    const p = await parseLink(c.url);
    assert.equal(p.serverBase, c.server_base, c.url);
    assert.equal(p.room, c.room, c.url);
    const kind = p.keys === null ? "plaintext" : p.keys.canWrite ? "write" : "read";
    assert.equal(kind, c.kind, c.url);
    assert.equal(websocketUrl(p.serverBase, p.room), c.websocket_url);
  }
  for (const c of V.invalid_links) {
    await assert.rejects(parseLink(c.url), (err: Error) => {
      assert.equal(err.name, c.error, `${c.why}: ${c.url}`);
      // The key material never appears in the message.
      const fragment = c.url.split("#")[1];
      if (fragment && fragment.length > 8) assert.ok(!err.message.includes(fragment.slice(2)), c.why);
      return true;
    }, c.why);
  }
});

test("write auth: challenge signatures", async () => {
  const keys = await writeKeys();
  const A = V.auth;
  const challenge = fromHex(A.challenge);
  assert.equal(toHex(authMessage(keys.roomIdBytes, challenge)), A.message);
  assert.equal(toHex(await signChallenge(keys, challenge)), A.signature);
  assert.ok(await verifyChallenge(keys.writePublicKey, keys.roomIdBytes, challenge, fromHex(A.signature)));
  for (const bad of A.invalid) {
    const ok = await verifyChallenge(fromHex(bad.write_public_key), fromHex(bad.room_id_bytes), fromHex(bad.challenge), fromHex(bad.signature));
    assert.equal(ok, false, bad.why);
  }
  const reader = await RoomKeys.fromReadCapability(keys.readSecret, keys.writePublicKey);
  await assert.rejects(signChallenge(reader, challenge), { name: "ReadOnlyKeys" });
  // Readers answer with the reader key, which every link derives; it verifies as no writer's.
  assert.equal(toHex(await signReaderChallenge(reader, challenge)), A.reader_signature);
  assert.ok(await verifyChallenge(fromHex(V.derived.reader_public_key), keys.roomIdBytes, challenge, fromHex(A.reader_signature)));
  assert.equal(await verifyChallenge(keys.writePublicKey, keys.roomIdBytes, challenge, fromHex(A.reader_signature)), false);
});

test("envelopes seal byte-for-byte and open with write and read-only keys", async () => {
  const keys = await writeKeys();
  const reader = await RoomKeys.fromReadCapability(keys.readSecret, keys.writePublicKey);
  for (const e of V.envelopes) {
    const author = fromHex(e.author_id);
    const nonce = fromHex(e.nonce);
    const pt = fromHex(e.plaintext);
    const sealed =
      e.type === EnvelopeType.UPDATE
        ? await sealUpdate(keys, author, e.author_seq, pt, nonce)
        : e.type === EnvelopeType.SNAPSHOT
          ? await sealSnapshot(keys, author, e.author_seq, e.ref, pt, nonce)
          : await sealAwareness(keys, author, e.author_seq, pt, nonce);
    assert.equal(toHex(sealed), e.envelope, e.name);
    const parsed = parseEnvelope(fromHex(e.envelope));
    assert.equal(toHex(parsed.header), e.header, e.name);
    assert.equal(toHex(parsed.ciphertext), e.ciphertext, e.name);
    assert.equal(parsed.signature === null ? null : toHex(parsed.signature), e.signature, e.name);
    for (const k of [keys, reader]) {
      const opened = await openEnvelope(k, fromHex(e.envelope));
      assert.equal(opened.type, e.type);
      assert.equal(toHex(opened.authorId), e.author_id);
      assert.equal(opened.authorSeq, e.author_seq);
      assert.equal(opened.ref, e.ref);
      assert.equal(toHex(opened.plaintext), e.plaintext, e.name);
    }
    if (e.type === EnvelopeType.AWARENESS) {
      assert.equal(toHex(await sealAwareness(reader, author, e.author_seq, pt, nonce)), e.envelope, "readers seal presence");
    } else {
      await assert.rejects(sealUpdate(reader, author, 1, pt), { name: "ReadOnlyKeys" });
    }
  }
});

test("tampered envelopes are rejected with the expected error, in the expected order", async () => {
  const keys = await writeKeys();
  assert.ok(V.tampered.length > 0);
  for (const t of V.tampered) {
    const data = fromHex(t.envelope);
    let parseFailed = false;
    try {
      parseEnvelope(data);
    } catch (err) {
      parseFailed = true;
      assert.equal((err as Error).name, "MalformedEnvelope", t.name);
    }
    assert.equal(parseFailed, t.parse_error, `${t.name}: keyless parse`);
    await assert.rejects(openEnvelope(keys, data), (err: Error) => {
      assert.equal(err.name, t.error, `${t.name}: ${t.why} (${err.message})`);
      return true;
    });
  }
});

test("replay guard: order, replays, gaps and snapshot heads", () => {
  const author = fromHex("a0a1a2a3a4a5a6a7a8a9aaabacadaeaf");
  const up = (seq: number) => ({ type: EnvelopeType.UPDATE, authorId: author, authorSeq: seq });
  const g = new ReplayGuard();
  assert.throws(() => g.check(up(2)), { name: "ReorderedEnvelope" });
  g.check(up(1));
  assert.throws(() => g.check(up(1)), { name: "ReplayedEnvelope" });
  g.check(up(3), true);
  assert.deepEqual(g.export(), { a0a1a2a3a4a5a6a7a8a9aaabacadaeaf: 3 });
  const h = new ReplayGuard();
  h.load(g.export());
  h.check(up(4));
  assert.throws(() => h.load({ nothex: 1 }));
  const aw = (seq: number) => ({ type: EnvelopeType.AWARENESS, authorId: author, authorSeq: seq });
  h.check(aw(5));
  h.check(aw(9));
  assert.throws(() => h.check(aw(9)), { name: "ReplayedEnvelope" });
});
