// Peers' presence states, read defensively (web/src/presence; issue 13, finding 7).
import { test } from "node:test";
import assert from "node:assert/strict";
import * as Y from "yjs";
import * as encoding from "lib0/encoding";
import { Awareness } from "y-protocols/awareness";
import { FALLBACK_COLOR, MAX_DEPTH, MAX_STATE_BYTES, nestingDepth, parsePeerState, presenceColor, presenceName } from "../src/presence/peer.js";
import { applyPresence, readPresenceUpdate } from "../src/presence/update.js";

const HOSTILE_COLOR = "red;position:fixed;inset:0;z-index:99999;background:url(data:image/svg+xml,x)";
const json = (value: unknown) => new TextEncoder().encode(typeof value === "string" ? value : JSON.stringify(value));

function update(entries: [number, number, string][]): Uint8Array {
  const e = encoding.createEncoder();
  encoding.writeVarUint(e, entries.length);
  for (const [id, clock, state] of entries) {
    encoding.writeVarUint(e, id);
    encoding.writeVarUint(e, clock);
    encoding.writeVarString(e, state);
  }
  return encoding.toUint8Array(e);
}

test("a presence colour is #rgb or #rrggbb, anything else the fallback", () => {
  assert.equal(presenceColor("#1F5FAD"), "#1f5fad");
  assert.equal(presenceColor("#abc"), "#aabbcc");
  for (const bad of [HOSTILE_COLOR, "red", "#12345", "#1234567", "#abcd", "#1f5fad33", " #1f5fad", "#1f5fad;", "url(x)", 42, null, undefined, {}]) {
    assert.equal(presenceColor(bad), FALLBACK_COLOR, String(bad));
  }
});

test("a presence name is visible text of at most 64 characters", () => {
  assert.equal(presenceName("  Ada  "), "Ada");
  assert.equal(presenceName("a\u202eb\u0000c\u200b"), "abc");
  assert.equal(presenceName("x".repeat(100))?.length, 64);
  assert.equal(presenceName("<img src=x onerror=alert(1)>"), "<img src=x onerror=alert(1)>"); // text, shown as text
  for (const bad of ["", "   ", "\u202e", 7, null, { name: "x" }]) assert.equal(presenceName(bad), null);
});

test("the rendered fields are checked; the colour a peer sends never reaches a style", () => {
  const state = parsePeerState(json({ user: { name: "Mallory", color: HOSTILE_COLOR, colorLight: HOSTILE_COLOR }, file: "a.py", extra: [1, 2] }));
  assert.deepEqual(state, { user: { name: "Mallory", color: FALLBACK_COLOR, colorLight: `${FALLBACK_COLOR}33` }, file: "a.py", extra: [1, 2] });
  const honest = parsePeerState(json({ user: { name: "Ada", color: "#1f5fad", colorLight: "#1f5fad33" } }));
  assert.deepEqual(honest, { user: { name: "Ada", color: "#1f5fad", colorLight: "#1f5fad33" } });
  assert.equal(parsePeerState(json({ user: { name: 3 } }))?.user, undefined);
  assert.equal(parsePeerState(json({ file: { toString: 1 } }))?.file, null);
});

test("cursors keep only relative-position JSON Yjs can resolve", () => {
  const doc = new Y.Doc();
  const text = doc.getMap("files").set("a.py", new Y.Text("hello"));
  const at = (i: number) => JSON.parse(JSON.stringify(Y.createRelativePositionFromTypeIndex(text, i)));
  const good = parsePeerState(json({ cursor: { anchor: at(1), head: at(5) } }));
  const { anchor, head } = good?.cursor as { anchor: Y.RelativePosition; head: Y.RelativePosition };
  // As y-codemirror.next resolves them: the JSON itself, not Y.createRelativePositionFromJSON's copy.
  assert.equal(Y.createAbsolutePositionFromRelativePosition(anchor, doc)?.index, 1);
  assert.equal(Y.createAbsolutePositionFromRelativePosition(head, doc)?.index, 5);
  // What Python writes (collab.workspace.cursor_json): only the fields it uses.
  const python = parsePeerState(json({ cursor: { anchor: { item: at(1).item, assoc: 0 }, head: { type: at(5).type, assoc: 0 } } }));
  const fromPython = python?.cursor as { anchor: Y.RelativePosition; head: Y.RelativePosition };
  assert.equal(Y.createAbsolutePositionFromRelativePosition(fromPython.anchor, doc)?.index, 1);
  assert.equal(Y.createAbsolutePositionFromRelativePosition(fromPython.head, doc)?.index, 5);
  for (const bad of [
    { anchor: at(1) },
    { anchor: at(1), head: { item: { client: "1", clock: 0 } } },
    { anchor: at(1), head: { item: { client: -1, clock: 0 } } },
    { anchor: at(1), head: { tname: "evil", assoc: 0 } },
    { anchor: at(1), head: { assoc: 0 } },
    { anchor: at(1), head: { item: { client: 1, clock: 0 }, assoc: "x" } },
    "cursor",
  ]) {
    assert.equal(parsePeerState(json({ cursor: bad }))?.cursor, null, JSON.stringify(bad));
  }
});

test("a state too big, too deep, not JSON or not an object is refused", () => {
  assert.equal(nestingDepth('{"a":[{"b":"[[[[{{{{"}]}'), 3);
  assert.equal(nestingDepth('{"a":"\\"[[["}'), 1);
  const deep = (n: number) => "[".repeat(n - 1) + "{}" + "]".repeat(n - 1);
  assert.deepEqual(parsePeerState(json(`{"x":${deep(MAX_DEPTH - 1)}}`))?.x !== undefined, true);
  assert.equal(parsePeerState(json(`{"x":${deep(MAX_DEPTH)}}`)), undefined);
  assert.equal(parsePeerState(json(`{"x":${deep(100_000)}}`)), undefined);
  assert.equal(parsePeerState(json({ name: "x".repeat(MAX_STATE_BYTES) })), undefined);
  assert.equal(parsePeerState(new Uint8Array([0x7b, 0xff, 0x7d])), undefined); // not UTF-8
  for (const bad of ["{", "[1]", "3", '"x"', ""]) assert.equal(parsePeerState(json(bad)), undefined, bad);
  assert.equal(parsePeerState(json("null")), null); // a peer that left
});

test("one refused peer in an update is dropped, the others apply", () => {
  const doc = new Y.Doc();
  const awareness = new Awareness(doc);
  try {
    applyPresence(awareness, readPresenceUpdate(update([[7, 1, JSON.stringify({ user: { name: "Mallory", color: "#b02a37" } })]])), "remote");
    assert.equal(awareness.getStates().get(7)?.user.name, "Mallory");
    const deep = "[".repeat(50_000) + "]".repeat(50_000);
    const entries = readPresenceUpdate(
      update([
        [7, 2, `{"user":${deep}}`],
        [8, 1, JSON.stringify({ user: { name: "Ada", color: HOSTILE_COLOR } })],
      ]),
    );
    applyPresence(awareness, entries, "remote");
    assert.equal(awareness.getStates().has(7), false, "the peer whose state cannot be read is dropped");
    assert.deepEqual(awareness.getStates().get(8)?.user, { name: "Ada", color: FALLBACK_COLOR, colorLight: `${FALLBACK_COLOR}33` });
    assert.throws(() => readPresenceUpdate(new Uint8Array([5, 1])), "a broken frame is an error for the caller to drop");
  } finally {
    awareness.destroy();
  }
});
