// The agent pin store (web/src/crypto/pins.ts): first use pins, the same key passes, another key is
// "changed" with the old pin, per hub and per name; a damaged store starts over instead of throwing.
import { test } from "node:test";
import assert from "node:assert/strict";
import { AgentPins, PINS_KEY } from "../src/crypto/pins.js";

function memory(): { getItem(k: string): string | null; setItem(k: string, v: string): void; data: Map<string, string> } {
  const data = new Map<string, string>();
  return { data, getItem: (k) => data.get(k) ?? null, setItem: (k, v) => void data.set(k, v) };
}

test("first use pins; the same key passes; another key is a change that keeps the old pin", () => {
  const store = memory();
  const pins = new AgentPins(store, "https://hub.example");
  assert.deepEqual(pins.check("pair", "KEY1"), { state: "new" });
  pins.pin("pair", "KEY1", "aaaa", 1000);
  assert.deepEqual(pins.check("pair", "KEY1"), { state: "same", pin: { key: "KEY1", fingerprint: "aaaa", since: 1000 } });
  assert.deepEqual(pins.check("pair", "KEY2"), { state: "changed", pin: { key: "KEY1", fingerprint: "aaaa", since: 1000 } });
  // Checking never re-pins: only pin() (after the person confirmed) replaces it.
  assert.equal(pins.check("pair", "KEY2").state, "changed");
  pins.pin("pair", "KEY2", "bbbb", 2000);
  assert.equal(pins.check("pair", "KEY2").state, "same");
  assert.equal(pins.check("pair", "KEY1").state, "changed");
});

test("pins are per hub and per name", () => {
  const store = memory();
  new AgentPins(store, "https://a.example").pin("pair", "KEY1", "aaaa");
  assert.equal(new AgentPins(store, "https://b.example").check("pair", "KEY9").state, "new");
  assert.equal(new AgentPins(store, "https://a.example").check("other", "KEY9").state, "new");
  assert.equal(new AgentPins(store, "https://a.example").check("pair", "KEY9").state, "changed");
});

test("a damaged store reads as empty", () => {
  for (const junk of ["{", "[]", "null", "5"]) {
    const store = memory();
    store.setItem(PINS_KEY, junk);
    const pins = new AgentPins(store, "h");
    assert.equal(pins.check("pair", "K").state, "new");
    pins.pin("pair", "K", "f");
    assert.equal(pins.check("pair", "K").state, "same");
  }
});
