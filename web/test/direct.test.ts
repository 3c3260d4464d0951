// Direct messages (docs/protocol.md, "Direct messages"): the frames byte-for-byte as the Python twins
// write them (collab/protocol/yjs.py direct_message, collab/protocol/relay_frames.py direct and
// direct_relay), the defensive parsing, the replay rule, and the inline-reply bookkeeping.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as Y from "yjs";
import * as decoding from "lib0/decoding";
import { Awareness } from "y-protocols/awareness";
import { fromHex, toHex } from "../src/crypto/bytes.js";
import { EnvelopeType, newAuthorId, openEnvelope, sealAwareness } from "../src/crypto/envelope.js";
import { RoomKeys, generateWriteSecret } from "../src/crypto/keys.js";
import { DirectReplay, MAX_DIRECT_BYTES, MESSAGE_DIRECT, encodeDirectFrame, encodeDirectPayload, parseDirectPayload, readDirectFrame } from "../src/protocol/direct.js";
import * as relay from "../src/protocol/relay.js";
import { InlineReplies, readInlineReply } from "../src/ai/inline.js";
import { applyPresence } from "../src/presence/update.js";

const utf8 = (s: string) => new TextEncoder().encode(s);

test("a plaintext room's direct message is varUint 100 · varUint peer · varUint8Array payload, as Python writes it", () => {
  // yjs.direct_message(300, b'{"a":1}') and yjs.direct_message(2**32 - 1, b'{}')
  assert.equal(toHex(encodeDirectFrame(300, utf8('{"a":1}'))), "64ac02077b2261223a317d");
  assert.equal(toHex(encodeDirectFrame(2 ** 32 - 1, utf8("{}"))), "64ffffffff0f027b7d");
  const decoder = decoding.createDecoder(fromHex("64ac02077b2261223a317d"));
  assert.equal(decoding.readVarUint(decoder), MESSAGE_DIRECT);
  const { peer, payload } = readDirectFrame(decoder);
  assert.equal(peer, 300);
  assert.deepEqual(parseDirectPayload(payload), { a: 1 });
  assert.throws(() => readDirectFrame(decoding.createDecoder(fromHex("ac02")))); // no payload
  assert.throws(() => encodeDirectFrame(-1, utf8("{}")));
});

test("an encrypted room's DIRECT and DIRECT_RELAY frames: type, u64 conn id, envelope", () => {
  // relay_frames.direct(2**64 - 1, b"ENV") and relay_frames.direct_relay(0x0102030405060708, b"ENV")
  assert.equal(toHex(relay.direct(2n ** 64n - 1n, utf8("ENV"))), "17ffffffffffffffff454e56");
  assert.throws(() => relay.direct(2n ** 64n, utf8("ENV")));
  const frame = relay.parseHubFrame(fromHex("0a0102030405060708454e56"));
  assert.equal(frame.type, relay.Frame.DIRECT_RELAY);
  assert.ok(frame.type === relay.Frame.DIRECT_RELAY);
  assert.equal(frame.connId, 0x0102030405060708n);
  assert.equal(new TextDecoder().decode(frame.envelope), "ENV");
  assert.throws(() => relay.parseHubFrame(fromHex("0a0102030405060708")), relay.RelayProtocolError); // no envelope
  assert.throws(() => relay.parseHubFrame(fromHex("0a01020304")), relay.RelayProtocolError);
});

test("a direct message is a JSON object within the presence limits, or it is refused", () => {
  assert.deepEqual(parseDirectPayload(utf8('{"inline_reply":{"id":"x","text":"<img src=x onerror=alert(1)>"}}')), { inline_reply: { id: "x", text: "<img src=x onerror=alert(1)>" } });
  for (const bad of ["null", "[]", "[1]", '"text"', "42", "true", "{", "", "{}}"]) assert.equal(parseDirectPayload(utf8(bad)), undefined, bad);
  assert.equal(parseDirectPayload(fromHex("7b22ff227d")), undefined); // not UTF-8
  assert.equal(parseDirectPayload(utf8(`{"a":${"[".repeat(40)}${"]".repeat(40)}}`)), undefined); // too deep
  assert.equal(parseDirectPayload(utf8(JSON.stringify({ a: "x".repeat(64 * 1024) }))), undefined); // too large
  assert.ok(encodeDirectPayload({ a: "x".repeat(MAX_DIRECT_BYTES - 20) }));
  assert.equal(encodeDirectPayload({ a: "x".repeat(MAX_DIRECT_BYTES) }), null);
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  assert.equal(encodeDirectPayload(cyclic), null);
});

test("a sender session's direct messages must rise; another session has its own counter", () => {
  const replay = new DirectReplay(2);
  const a = newAuthorId();
  const b = newAuthorId();
  assert.ok(replay.accept(a, 1));
  assert.ok(replay.accept(a, 5)); // gaps are normal: the hub coalesces
  assert.ok(!replay.accept(a, 5)); // the same one again
  assert.ok(!replay.accept(a, 3)); // an older one, late
  assert.ok(replay.accept(b, 1));
  assert.ok(replay.accept(a, 6));
  const c = newAuthorId();
  assert.ok(replay.accept(c, 1)); // bounded: b, the least recent, is forgotten
  assert.ok(replay.accept(b, 1));
});

test("an encrypted direct message is an awareness envelope any member opens, a reader too", async () => {
  const keys = await RoomKeys.fromWriteSecret(generateWriteSecret());
  const reader = await RoomKeys.fromReadCapability(keys.readSecret, keys.writePublicKey);
  const payload = encodeDirectPayload({ inline_reply: { id: "r1", text: "um", done: false, model: "m" } })!;
  const envelope = await sealAwareness(reader, newAuthorId(), 1, payload); // readers send them too (unsigned)
  const opened = await openEnvelope(keys, envelope);
  assert.equal(opened.type, EnvelopeType.AWARENESS);
  assert.deepEqual(parseDirectPayload(opened.plaintext), { inline_reply: { id: "r1", text: "um", done: false, model: "m" } });
  const frame = relay.direct(7n, envelope);
  assert.equal(frame[0], 0x17);
  assert.deepEqual(frame.subarray(9), envelope);
});

/** A room's awareness as the page holds it: ours, an agent that completes inline, a plain peer. */
function room(): { awareness: Awareness; agent: number; peer: number } {
  const awareness = new Awareness(new Y.Doc());
  const agent = awareness.clientID + 1;
  const peer = awareness.clientID + 2;
  applyPresence(
    awareness,
    [
      { clientId: agent, clock: 1, state: { user: { name: "ai" }, agent: { name: "ai", model: "stub", inline: true } } },
      { clientId: peer, clock: 1, state: { user: { name: "Grace" }, agent: { name: "fake", inline: "true" } } },
    ],
    "test",
  );
  return { awareness, agent, peer };
}

const reply = (id: string, text: string, extra: Record<string, unknown> = {}) => ({ inline_reply: { id, text, done: false, model: "stub", ...extra } });

test("an inline reply counts only from an agent whose presence says it completes inline", () => {
  const { awareness, agent, peer } = room();
  assert.deepEqual(readInlineReply(awareness, agent, reply("r1", "um")), { id: "r1", text: "um", done: false, model: "stub", error: undefined, agent });
  assert.equal(readInlineReply(awareness, peer, reply("r1", "um")), null); // a participant posing as the agent
  assert.equal(readInlineReply(awareness, 999_999, reply("r1", "um")), null); // no presence at all
  assert.equal(readInlineReply(awareness, agent, { other: 1 }), null);
  for (const bad of [null, [], "x", { id: 1, text: "a" }, { id: "", text: "a" }, { id: "r1" }, { id: "r1", text: 5 }, { id: "x".repeat(65), text: "a" }]) {
    assert.equal(readInlineReply(awareness, agent, { inline_reply: bad }), null, JSON.stringify(bad));
  }
  const long = readInlineReply(awareness, agent, reply("r1", "x".repeat(5000), { done: true, error: "e".repeat(400), model: 7 }))!;
  assert.equal(long.text.length, 2000);
  assert.equal(long.done, true);
  assert.equal(long.error!.length, 300);
  assert.equal(long.model, "");
  awareness.destroy();
});

test("the latest reply per request id is kept, for a bounded number of requests", () => {
  const { awareness, agent, peer } = room();
  const replies = new InlineReplies(awareness, 2);
  assert.equal(replies.replyTo("r1"), null);
  assert.equal(replies.receive(agent, reply("r1", "u"))?.text, "u");
  assert.equal(replies.receive(agent, reply("r1", "um(items)", { done: true }))?.text, "um(items)");
  assert.equal(replies.receive(peer, reply("r1", "HIJACKED")), null);
  assert.deepEqual([replies.replyTo("r1")?.text, replies.replyTo("r1")?.done], ["um(items)", true]);
  replies.receive(agent, reply("r2", "a"));
  replies.receive(agent, reply("r1", "um(items))")); // r1 is the most recent again
  replies.receive(agent, reply("r3", "b")); // r2 goes
  assert.equal(replies.replyTo("r2"), null);
  assert.equal(replies.replyTo("r1")?.text, "um(items))");
  replies.forget("r1");
  assert.equal(replies.replyTo("r1"), null);
  assert.equal(replies.replyTo("r3")?.text, "b");
  awareness.destroy();
});
