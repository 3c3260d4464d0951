// Checks the generator's hand-made wire formats against Yjs itself, and times them.
//   node bench/loadgen/selftest.mjs
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { MapSetEncoder, forEachKey, MAP_NAME, readVarUintAt } from './protocol.mjs'

function keysOf (update) {
  const got = []
  forEachKey(update, 0, update.length, (w, s) => got.push(`${w}:${s}`))
  return got
}

// 1. The pre-encoded update is byte-for-byte what Yjs produces for the same map set.
{
  const doc = new Y.Doc()
  doc.clientID = 123456789
  const m = doc.getMap(MAP_NAME)
  const enc = new MapSetEncoder(doc.clientID, 7, 16)
  let last = null
  doc.on('update', u => { last = u })
  for (let seq = 0; seq < 300; seq++) {
    m.set(`7:${seq}`, 'x'.repeat(16))
    assert.deepEqual(enc.update(seq), last, `update for seq ${seq} differs from Yjs`)
  }
  // and the frame wraps it as a y-websocket sync update
  const f = enc.frame(new Uint8Array(0), 5)
  assert.equal(f[0], 0); assert.equal(f[1], 2)
  const [len, p] = readVarUintAt(f, 2)
  assert.deepEqual(f.subarray(p, p + len), enc.update(5))
}

// 2. Applying the pre-encoded updates to a fresh doc yields the keys, in any grouping.
{
  const encs = [0, 1, 2].map(w => new MapSetEncoder(1000 + w, w, 4))
  const updates = []
  for (let s = 0; s < 50; s++) for (const e of encs) updates.push(e.update(s))
  const doc = new Y.Doc()
  const seen = new Set()
  doc.getMap(MAP_NAME).observe(ev => { for (const k of ev.keysChanged) seen.add(k) })
  for (const u of updates) Y.applyUpdate(doc, u)
  assert.equal(seen.size, 150)
  // the fast reader agrees on single, merged and re-encoded updates
  const single = new Set(updates.flatMap(keysOf))
  assert.deepEqual([...single].sort(), [...seen].sort())
  const merged = Y.mergeUpdates(updates)
  assert.deepEqual(keysOf(merged).sort(), [...seen].sort())
  const state = Y.encodeStateAsUpdate(doc)
  assert.deepEqual(keysOf(state).sort(), [...seen].sort())
  // a doc with other content (text, nested types, deletes) does not confuse the reader
  const d2 = new Y.Doc()
  d2.getText('t').insert(0, 'hello world')
  d2.getText('t').delete(2, 3)
  d2.getArray('a').push([{ a: 1, b: [1.5, true, null, 'x'] }, new Uint8Array([1, 2]), new Y.Map()])
  d2.getMap('m').set('not-a-key', 1)
  d2.getMap('m').set('3:4', 'v')
  d2.getMap('m').set('3:4', 'w') // has an origin now: not a fresh key, not reported
  const u2 = Y.encodeStateAsUpdate(d2)
  assert.deepEqual(keysOf(u2), ['3:4'])
  assert.deepEqual(keysOf(Y.mergeUpdates([u2, merged])).sort(), ['3:4', ...seen].sort())
}

// 3. Speed: the fast reader against applying to a receiver Y.Doc.
{
  const N = 100000
  const enc = new MapSetEncoder(42, 3, 16)
  const t0 = performance.now()
  const ups = new Array(N)
  for (let s = 0; s < N; s++) ups[s] = enc.update(s)
  const t1 = performance.now()
  let n = 0
  for (let s = 0; s < N; s++) forEachKey(ups[s], 0, ups[s].length, () => { n++ })
  const t2 = performance.now()
  const doc = new Y.Doc()
  let k = 0
  doc.getMap(MAP_NAME).observe(ev => { k += ev.keysChanged.size })
  for (let s = 0; s < N; s++) Y.applyUpdate(doc, ups[s])
  const t3 = performance.now()
  assert.equal(n, N); assert.equal(k, N)
  const us = (a, b) => ((b - a) * 1000 / N).toFixed(2)
  console.log(`per update: encode ${us(t0, t1)} us, fast read ${us(t1, t2)} us, Y.applyUpdate+observe ${us(t2, t3)} us`)
}
console.log('selftest ok')
