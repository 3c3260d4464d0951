#!/usr/bin/env node
// Load generator: runs one workload against one y-websocket (or Hocuspocus) server and
// prints a JSON result.
//
//   node bench/loadgen/gen.mjs --url ws://127.0.0.1:1234 --proto yws --workload a [--quick]
//        [--server-pid PID] [--deflate] [--out FILE] [--url2 ws://127.0.0.1:1235]
//
// Workloads (see bench/README.md): a, a-deflate, b, c, d, e-conn, e-room, race (g: e2ee_gen.py;
// crosshub: ../crosshub.py, both started by bench.mjs).
import fs from 'node:fs'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import * as Y from 'yjs'
import { Client, Ledger, stats } from './client.mjs'
import { Histogram, ServerMonitor, sampleTree, round } from './stats.mjs'
import { syncStep1, syncUpdate } from './protocol.mjs'

const { values: args } = parseArgs({
  options: {
    url: { type: 'string', default: 'ws://127.0.0.1:1234' },
    // a second hub serving the same rooms (collab-redis-2): each room's clients alternate
    // between --url and --url2, or with --affinity all of a room's clients go to one of them
    // (rooms alternate), as a load balancer with room affinity (infra/Caddyfile) places them
    url2: { type: 'string', default: '' },
    affinity: { type: 'boolean', default: false },
    proto: { type: 'string', default: 'yws' },
    workload: { type: 'string', default: 'a' },
    quick: { type: 'boolean', default: false },
    'server-pid': { type: 'string', default: '' },
    deflate: { type: 'boolean', default: false },
    verify: { type: 'boolean', default: true },
    'no-verify': { type: 'boolean', default: false },
    out: { type: 'string', default: '' },
    'deadline-s': { type: 'string', default: '0' },
    tag: { type: 'string', default: '' }
  }
})
const QUICK = args.quick
const serverPid = Number(args['server-pid']) || 0
const verify = args.verify && !args['no-verify']
const roomTag = args.tag || Math.random().toString(36).slice(2, 8)
const DEBUG = !!process.env.BENCH_DEBUG

// what a workload has measured so far; written out if the deadline (--deadline-s) strikes
const progress = {}

const sleep = (ms) => new Promise(resolve => setTimeout(resolve, ms))
const now = () => performance.now()

// ------------------------------------------------------------------ workload definitions

const W = {
  // (a) one busy room: 50 clients, 10 of them writing 20 updates/s each
  a: { kind: 'rate', rooms: 1, clientsPerRoom: 50, writersPerRoom: 10, ratePerWriter: 20, warmupS: QUICK ? 1 : 2, measureS: QUICK ? 2 : 15 },
  // (b) many small rooms: 100 rooms x 5 clients, 2 writers per room at 5 updates/s each
  b: { kind: 'rate', rooms: 100, clientsPerRoom: 5, writersPerRoom: 2, ratePerWriter: 5, warmupS: QUICK ? 1 : 2, measureS: QUICK ? 2 : 15 },
  // (c) saturation: 1 room, 20 clients, all writing; total rate rises step by step
  c: {
    kind: 'ladder', rooms: 1, clientsPerRoom: 20, writersPerRoom: 20,
    totalRates: QUICK
      ? [200, 500, 1000, 2000, 3000, 4500, 6500, 9000, 12000, 16000]
      : [100, 200, 400, 700, 1000, 1400, 2000, 2600, 3300, 4000, 5000, 6000, 7000, 8500, 10000, 12000, 14000, 17000, 20000],
    stepS: QUICK ? 1.2 : 4,
    bisect: QUICK ? 1 : 2,
    warmupS: QUICK ? 0.8 : 2,
    p99LimitMs: 100
  },
  // (d) join time into rooms holding 20,000 and 100,000 updates of history
  d: { kind: 'join', histories: QUICK ? [2000, 10000] : [20000, 100000], joins: QUICK ? 1 : 3 },
  // (e) memory: RSS per idle connection (one room) and per idle room (one client each)
  'e-conn': { kind: 'mem-conn', conns: QUICK ? 100 : 1000 },
  'e-room': { kind: 'mem-room', rooms: QUICK ? 100 : 1000 },
  // pycrdt-websocket 0.16.5: clients joining a room while it is being created hang
  race: { kind: 'race', rooms: QUICK ? 2 : 5, clientsPerRoom: 20, waitS: QUICK ? 3 : 5 }
}
W['a-deflate'] = { ...W.a, deflate: true, measureS: QUICK ? 2 : 8 }

const spec = W[args.workload]
if (!spec) { console.error(`unknown workload ${args.workload}; known: ${Object.keys(W).join(', ')}`); process.exit(2) }
const deflate = args.deflate || !!spec.deflate

// ------------------------------------------------------------------ helpers

function newClient (ledger, room, writer, extra = {}) {
  return new Client({ url: args.url, proto: args.proto, room, ledger, writer, deflate, verify: false, ...extra })
}

/** Runs fn over items with at most `limit` in flight. */
async function pool (items, limit, fn) {
  let i = 0
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (i < items.length) { const k = i++; await fn(items[k], k) }
  })
  await Promise.all(workers)
}

/**
 * Connects rooms: each room's first client alone (pycrdt-websocket 0.16 hangs clients that
 * join a room while it is being created), then the others of that room concurrently.
 */
async function connectRooms (rooms, concurrency = 32) {
  const t0 = now()
  const syncMs = new Histogram()
  await pool(rooms, Math.max(1, Math.floor(concurrency / 4)), async (clients) => {
    await clients[0].connect(); syncMs.record(clients[0].syncMs)
    await pool(clients.slice(1), 8, async (c) => { await c.connect(); syncMs.record(c.syncMs) })
  })
  return { connect_s: round((now() - t0) / 1000, 3), sync_ms: syncMs.summary() }
}

/**
 * Build rooms of clients; writers get global indexes 0..N-1. One client per room (the last)
 * also applies every update to a Y.Doc to cross-check the fast reader.
 */
function buildRooms (ledger, spec, prefix) {
  const rooms = []
  let w = 0
  for (let r = 0; r < spec.rooms; r++) {
    const room = `${prefix}-${roomTag}-${r}`
    const clients = []
    for (let i = 0; i < spec.clientsPerRoom; i++) {
      const isWriter = i < spec.writersPerRoom
      const second = args.affinity ? r % 2 === 1 : i % 2 === 1
      const url = args.url2 && second ? args.url2 : args.url
      const c = newClient(ledger, room, isWriter ? w : -1, { url, verify: verify && i === spec.clientsPerRoom - 1 })
      if (isWriter) { ledger.writerRoomSize[w] = spec.clientsPerRoom - 1; w++ }
      clients.push(c)
    }
    rooms.push(clients)
  }
  return rooms
}

const MAX_BUFFERED = 16 * 2 ** 20

/** Sends at ratePerWriter for durationMs from all writers, with staggered phases. */
function drive (ledger, writers, ratePerWriter, durationMs) {
  return new Promise(resolve => {
    const n = writers.length
    const offsets = writers.map((_, i) => i / n)
    const sentHere = new Float64Array(n)
    let throttled = 0
    const start = now()
    const perMs = ratePerWriter / 1000
    const tick = () => {
      const t = now()
      const el = Math.min(t - start, durationMs)
      for (let i = 0; i < n; i++) {
        const due = Math.floor(el * perMs + offsets[i])
        const c = writers[i]
        while (sentHere[i] < due) {
          if (c.ws.bufferedAmount > MAX_BUFFERED) { throttled += due - sentHere[i]; sentHere[i] = due; break }
          c.sendNext(t)
          sentHere[i]++
        }
      }
      if (t - start >= durationMs) {
        clearInterval(timer)
        resolve({ throttled, send_s: (now() - start) / 1000 })
      }
    }
    const timer = setInterval(tick, 1)
  })
}

function expectedFor (ledger, writers, fromSeq) {
  let e = 0
  for (const c of writers) e += (ledger.sent[c.writer] - fromSeq[c.writer]) * ledger.writerRoomSize[c.writer]
  return e
}

async function drain (ledger, step, expected, maxMs) {
  const t0 = now()
  while (ledger.steps[step].delivered < expected && now() - t0 < maxMs) await sleep(10)
  ledger.open.delete(step)
  return round((now() - t0) / 1000, 3)
}

/** Runs one measured step: send for durationMs at ratePerWriter, then wait for deliveries. */
async function runStep (ledger, writers, name, ratePerWriter, durationMs, drainMs, mon) {
  const fromSeq = Int32Array.from(ledger.sent)
  const step = ledger.addStep(new Histogram(), new Histogram())
  const loop = monitorEventLoopDelay({ resolution: 5 }); loop.enable()
  const win = mon.window()
  const sendInfo = await drive(ledger, writers, ratePerWriter, durationMs)
  const res = win()
  loop.disable()
  const expected = expectedFor(ledger, writers, fromSeq)
  const drainS = await drain(ledger, step, expected, drainMs)
  const st = ledger.steps[step]
  let sent = 0
  for (const c of writers) sent += ledger.sent[c.writer] - fromSeq[c.writer]
  return {
    name,
    offered_updates_per_s: round(ratePerWriter * writers.length, 1),
    sent,
    sent_updates_per_s: round(sent / sendInfo.send_s, 1),
    throttled: sendInfo.throttled,
    expected_deliveries: expected,
    delivered: st.delivered,
    missing_after_drain: expected - st.delivered, // lost or late; finishLate() tells which
    delivered_updates_per_s: round(st.delivered / sendInfo.send_s / (expected / Math.max(1, sent)), 1),
    deliveries_per_s: round(st.delivered / sendInfo.send_s, 1),
    echoes: st.echoes,
    latency_ms: st.hist.summary(),
    echo_latency_ms: st.echoHist.summary(),
    drain_s: drainS,
    loadgen_loop_delay_p99_ms: round(loop.percentile(99) / 1e6, 2),
    ...res,
    _step: step
  }
}

/**
 * Waits until every delivery expected so far has arrived (on time or late), at most maxMs.
 * Returns true when nothing is outstanding.
 */
async function settle (ledger, steps, maxMs) {
  const t0 = now()
  const outstanding = () => steps.reduce((a, s) => a + s.expected_deliveries - ledger.steps[s._step].delivered - ledger.steps[s._step].late, 0)
  while (outstanding() > 0 && now() - t0 < maxMs) await sleep(20)
  return outstanding() === 0
}

/** Splits what was missing after each step's drain into late (arrived since) and lost. */
function finishLate (ledger, steps) {
  for (const s of steps) {
    s.late = ledger.steps[s._step].late
    s.lost = s.missing_after_drain - s.late
    delete s._step
  }
}

function verifyReport (rooms) {
  // Fast reader vs Y.Doc on the verifying clients: number of distinct keys seen.
  const out = []
  for (const clients of rooms) {
    for (const c of clients) {
      if (!c.doc) continue
      let fast = 0
      for (const bits of c.seen.values()) for (const b of bits) { let x = b; while (x) { fast += x & 1; x >>= 1 } }
      out.push({ fast, ydoc: c.docKeys })
    }
  }
  const mismatched = out.filter(x => x.fast !== x.ydoc).length
  return { checked_clients: out.length, mismatched, sample: out.slice(0, 3) }
}

function closeAll (rooms) { for (const clients of rooms) for (const c of clients) c.close() }

// ------------------------------------------------------------------ workloads

async function runRate (spec, mon) {
  const totalWriters = spec.rooms * spec.writersPerRoom
  const perWriter = Math.ceil(spec.ratePerWriter * (spec.warmupS + spec.measureS) * 1.2) + 64
  const ledger = new Ledger(totalWriters, perWriter)
  const rooms = buildRooms(ledger, spec, args.workload)
  const conn = await connectRooms(rooms)
  const writers = rooms.flatMap(cs => cs.filter(c => c.writer >= 0))
  await sleep(300)
  const warm = await runStep(ledger, writers, 'warmup', spec.ratePerWriter, spec.warmupS * 1000, 2000, mon)
  const meas = await runStep(ledger, writers, 'measure', spec.ratePerWriter, spec.measureS * 1000, QUICK ? 3000 : 5000, mon)
  await settle(ledger, [warm, meas], QUICK ? 3000 : 10000)
  finishLate(ledger, [warm, meas])
  const ext = rooms[0][0].extensions || ''
  closeAll(rooms)
  return { params: spec, connect: conn, permessage_deflate: { offered: deflate, negotiated: ext.includes('permessage-deflate') }, steps: [warm, meas], result: meas, verify: verifyReport(rooms) }
}

async function runLadder (spec, mon) {
  const writersN = spec.rooms * spec.writersPerRoom
  let perWriter = 64
  for (const r of spec.totalRates) perWriter += Math.ceil(r / writersN * spec.stepS * 1.1) + 2
  const ledger = new Ledger(writersN, perWriter)
  const rooms = buildRooms(ledger, spec, 'c')
  const conn = await connectRooms(rooms)
  const writers = rooms.flatMap(cs => cs.filter(c => c.writer >= 0))
  await sleep(300)
  const steps = []
  progress.steps = steps
  let best = null; let stop = null
  // warm up (JIT, allocators) at the lowest rate; not judged
  const warm = await runStep(ledger, writers, 'warmup', spec.totalRates[0] / writersN, spec.warmupS * 1000, 3000, mon)
  warm.warmup = true
  steps.push(warm)
  let settled = true
  const once = async (total, attempt) => {
    const s = await runStep(ledger, writers, `${total}/s`, total / writersN, spec.stepS * 1000, 3000, mon)
    const p99 = s.latency_ms.p99 ?? Infinity
    s.attempt = attempt
    s.ok = s.missing_after_drain === 0 && p99 <= spec.p99LimitMs && s.sent_updates_per_s >= 0.9 * total && s.throttled === 0
    s.why = s.ok ? null : s.missing_after_drain > 0 ? `${s.missing_after_drain} deliveries not there ${s.drain_s} s after the step` : p99 > spec.p99LimitMs ? `p99 ${p99} ms > ${spec.p99LimitMs} ms` : `sent only ${s.sent_updates_per_s}/s of ${total}/s`
    steps.push(s)
    if (!s.ok) settled = await settle(ledger, steps, QUICK ? 8000 : 20000) // let the server catch up
    await sleep(200)
    return s
  }
  // a rate fails when two tries in a row fail (one pause of ~50 ms fails a p99 on its own)
  const tryRate = async (total) => {
    const s = await once(total, 1)
    if (s.ok || s.missing_after_drain > 0 || !settled) return s
    await sleep(500)
    return once(total, 2)
  }
  let failedAt = null
  for (const total of spec.totalRates) {
    const s = await tryRate(total)
    if (!s.ok) { stop = s.why; failedAt = total; break }
    best = s
  }
  // refine between the last good rate and the first failing one
  let lo = best ? best.offered_updates_per_s : 0
  let hi = failedAt
  for (let i = 0; i < spec.bisect && settled && hi && hi / Math.max(lo, 1) > 1.12; i++) {
    const mid = Math.round((lo + hi) / 2)
    const s = await tryRate(mid)
    if (s.ok) { best = s; lo = mid } else { hi = mid; stop = s.why }
  }
  if (!settled) stop += '; the server had not caught up with its backlog, so no refinement'
  await settle(ledger, steps, QUICK ? 3000 : 10000)
  finishLate(ledger, steps)
  closeAll(rooms)
  return {
    params: spec,
    connect: conn,
    steps,
    result: {
      max_sustained_updates_per_s: best ? best.sent_updates_per_s : 0,
      max_sustained_deliveries_per_s: best ? best.deliveries_per_s : 0,
      at_step: best ? best.name : null,
      p50_ms: best ? best.latency_ms.p50 : null,
      p99_ms: best ? best.latency_ms.p99 : null,
      server_cpu_pct: best ? best.server_cpu_pct : null,
      loadgen_cpu_pct: best ? best.loadgen_cpu_pct : null,
      stopped_by: stop || 'ladder exhausted (the server was not saturated)',
      bottleneck: bottleneck(steps)
    },
    verify: verifyReport(rooms)
  }
}

/**
 * Who ran out first at the first failing step: a single-threaded server at >= 90 % of a core
 * is the limit; a load generator at >= 90 % makes the figure a lower bound.
 */
function bottleneck (steps) {
  const failed = steps.filter(s => !s.warmup && !s.ok)
  if (!failed.length) return 'none reached'
  const f = failed[0]
  const parts = []
  if ((f.server_cpu_pct ?? 0) >= 90) parts.push(`server CPU ${f.server_cpu_pct}%`)
  if ((f.loadgen_cpu_pct ?? 0) >= 90) parts.push(`load generator CPU ${f.loadgen_cpu_pct}% (figure is a lower bound)`)
  if (!parts.length) parts.push(`neither CPU-bound (server ${f.server_cpu_pct}%, load generator ${f.loadgen_cpu_pct}%)`)
  return parts.join('; ')
}

/** Realistic typing history: mostly appends, some inserts in the middle, a few deletions. */
function makeHistory (n) {
  const doc = new Y.Doc()
  doc.clientID = 4242
  const t = doc.getText('t')
  const updates = []
  doc.on('update', u => updates.push(u))
  let seed = 12345
  const rnd = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed / 0x7fffffff }
  const letters = 'etaoinshrdlu     \n'
  const lengths = new Int32Array(n)
  const clocks = new Float64Array(n)
  for (let i = 0; i < n; i++) {
    const r = rnd()
    const len = t.length
    if (r < 0.05 && len > 0) t.delete(Math.floor(rnd() * len), 1)
    else if (r < 0.15) t.insert(Math.floor(rnd() * (len + 1)), letters[Math.floor(rnd() * letters.length)])
    else t.insert(len, letters[Math.floor(rnd() * letters.length)])
    lengths[i] = t.length
    clocks[i] = Y.getState(doc.store, doc.clientID)
  }
  return { updates, lengths, clocks, clientID: doc.clientID }
}

/** State vector of the history's first n updates (one client: its clock after update n). */
function stateVectorFor (H, n) {
  return Y.encodeStateVector(new Map([[H.clientID, H.clocks[n - 1]]]))
}

async function runJoin (spec, mon) {
  const tg = now()
  const H = makeHistory(Math.max(...spec.histories))
  const genS = round((now() - tg) / 1000, 2)
  const ledger = new Ledger(1, 1)
  const out = []
  progress.result = out
  const seeders = []
  for (const n of spec.histories) {
    const room = `d-${roomTag}-${n}`
    const seeder = newClient(ledger, room, -1)
    await seeder.connect()
    seeders.push(seeder)
    // pipelined upload of n separate updates, then a sync step1 as a barrier: the server
    // answers it after it has handled everything sent before it on this connection
    const win = mon.window()
    const t0 = now()
    for (let i = 0; i < n; i++) {
      if (DEBUG && i % 10000 === 0) console.error(`[gen] seeding ${room}: ${i} sent, ${Math.round(now() - t0)} ms, ${seeder.ws.bufferedAmount} bytes buffered`)
      seeder.ws.send(syncUpdate(seeder.prefix, H.updates[i]))
      if (seeder.ws.bufferedAmount > 4 * 2 ** 20) {
        while (seeder.ws.bufferedAmount > 1 * 2 ** 20) await sleep(1)
      }
    }
    const sv = stateVectorFor(H, n)
    if (DEBUG) console.error(`[gen] seeding ${room}: barrier after ${Math.round(now() - t0)} ms`)
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('seeding barrier timeout')), 180000)
      seeder.onStep2 = () => { clearTimeout(timer); seeder.onStep2 = null; resolve() }
      seeder.onClosed = (code, reason) => { clearTimeout(timer); reject(new Error(`seeding: the server closed the connection: ${code} ${reason}`)) }
      seeder.ws.send(syncStep1(seeder.prefix, sv))
    })
    const seedS = (now() - t0) / 1000
    if (DEBUG) console.error(`[gen] seeding ${room}: done in ${seedS} s`)
    const seedWin = win()
    await sleep(500)
    const expectedLen = H.lengths[n - 1]
    const joins = []
    for (let j = 0; j < spec.joins; j++) {
      const jw = mon.window()
      const c = newClient(ledger, room, -1)
      c.historyDoc = new Y.Doc()
      let firstStep2Ms = null; let firstStep2Bytes = null
      const done = new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`join timeout (${n} updates)`)), 120000)
        c.onStep2 = (len) => {
          if (firstStep2Ms == null) { firstStep2Ms = now() - c.connectStart; firstStep2Bytes = len }
          if (DEBUG) console.error(`[gen] join ${room}: step2 ${len} bytes at ${Math.round(now() - c.connectStart)} ms, text ${c.historyDoc.getText('t').length}/${expectedLen}`)
        }
        c.onClosed = (code, reason) => { clearTimeout(timer); reject(new Error(`join: the server closed the connection: ${code} ${reason}`)) }
        c.onHistory = () => {
          if (c.historyDoc.getText('t').length === expectedLen) { clearTimeout(timer); c.onHistory = null; resolve(now() - c.connectStart) }
        }
      })
      await c.connect(120000)
      const joinMs = await done
      const w = jw()
      joins.push({ join_ms: round(joinMs, 1), client_apply_ms: round(c.applyMs, 1), step2_ms: round(firstStep2Ms, 1), step2_bytes: firstStep2Bytes, server_cpu_pct: w.server_cpu_pct, server_rss_max_mb: w.server_rss_max_mb, other_cpu_pct: w.other_cpu_pct })
      c.close()
      await sleep(300)
    }
    const sorted = joins.map(j => j.join_ms).sort((a, b) => a - b)
    out.push({
      history_updates: n,
      doc_chars: expectedLen,
      seed_s: round(seedS, 2),
      ingest_updates_per_s: round(n / seedS, 0),
      seed_server_cpu_pct: seedWin.server_cpu_pct,
      join_ms_median: sorted[Math.floor(sorted.length / 2)],
      client_apply_ms_median: joins.map(j => j.client_apply_ms).sort((a, b) => a - b)[Math.floor(joins.length / 2)],
      joins
    })
  }
  for (const s of seeders) s.close()
  return { params: spec, history_generation_s: genS, result: out }
}

async function settleRss (ms = 1500) {
  await sleep(ms)
  const s = sampleTree(serverPid)
  return s ? s.rss : null
}

async function runMemConn (spec) {
  const ledger = new Ledger(1, 1)
  const rss0 = await settleRss(1000)
  const clients = Array.from({ length: spec.conns }, () => newClient(ledger, `e-${roomTag}-conn`, -1))
  const conn = await connectRooms([clients], 64)
  const rss1 = await settleRss()
  closeAll([clients])
  return {
    params: spec,
    connect: conn,
    result: { conns: spec.conns, rss_before_mb: mb(rss0), rss_after_mb: mb(rss1), kb_per_conn: rss0 && rss1 ? round((rss1 - rss0) / 1024 / spec.conns, 1) : null }
  }
}

async function runMemRoom (spec) {
  const ledger = new Ledger(spec.rooms, 4)
  const rss0 = await settleRss(1000)
  const rooms = []
  for (let r = 0; r < spec.rooms; r++) {
    ledger.writerRoomSize[r] = 0
    rooms.push([newClient(ledger, `e-${roomTag}-room-${r}`, r)])
  }
  ledger.addStep(new Histogram(), new Histogram())
  const conn = await connectRooms(rooms, 64)
  for (const [c] of rooms) c.sendNext(now()) // one small update per room, so it has content
  const rss1 = await settleRss()
  closeAll(rooms)
  return {
    params: spec,
    connect: conn,
    result: { rooms: spec.rooms, rss_before_mb: mb(rss0), rss_after_mb: mb(rss1), kb_per_room_with_one_conn: rss0 && rss1 ? round((rss1 - rss0) / 1024 / spec.rooms, 1) : null }
  }
}

async function runRace (spec) {
  // every client of a fresh room connects at once: no "first client alone"
  const ledger = new Ledger(1, 1)
  const res = []
  for (let r = 0; r < spec.rooms; r++) {
    const clients = Array.from({ length: spec.clientsPerRoom }, () => newClient(ledger, `race-${roomTag}-${r}`, -1))
    const settled = await Promise.allSettled(clients.map(c => c.connect(spec.waitS * 1000)))
    const ok = settled.filter(s => s.status === 'fulfilled').length
    res.push({ clients: clients.length, synced: ok, hung: clients.length - ok })
    closeAll([clients])
    await sleep(200)
  }
  const hung = res.reduce((a, r) => a + r.hung, 0)
  const total = res.reduce((a, r) => a + r.clients, 0)
  return { params: spec, result: { clients: total, hung, rooms: res } }
}

const mb = (x) => x == null ? null : round(x / 2 ** 20, 1)

// ------------------------------------------------------------------ main

async function main () {
  const mon = new ServerMonitor(serverPid).start()
  const whole = mon.window()
  const t0 = now()
  const c0 = process.cpuUsage()
  let body
  let error = null
  const deadline = Number(args['deadline-s'])
  if (deadline > 0) {
    setTimeout(() => {
      finish(mon, whole, t0, c0, progress, `deadline: the workload did not finish within ${deadline} s`)
    }, deadline * 1000).unref()
  }
  try {
    switch (spec.kind) {
      case 'rate': body = await runRate(spec, mon); break
      case 'ladder': body = await runLadder(spec, mon); break
      case 'join': body = await runJoin(spec, mon); break
      case 'mem-conn': body = await runMemConn(spec); break
      case 'mem-room': body = await runMemRoom(spec); break
      case 'race': body = await runRace(spec); break
    }
  } catch (e) {
    error = e.stack || String(e)
  }
  finish(mon, whole, t0, c0, body, error)
}

function finish (mon, whole, t0, c0, body, error) {
  const run = whole()
  mon.stop()
  const wall = (now() - t0) / 1000
  const cpu = process.cpuUsage(c0)
  const out = {
    workload: args.workload,
    quick: QUICK,
    url: args.url,
    url2: args.url2 || undefined,
    proto: args.proto,
    error,
    ...body,
    run,
    other_cpu_pct_max: Math.max(run.other_cpu_pct ?? 0, ...(body?.steps || []).map(st => st.other_cpu_pct ?? 0)),
    loadgen: {
      wall_s: round(wall, 2),
      cpu_pct: round(100 * (cpu.user + cpu.system) / 1e6 / wall, 1),
      ...stats,
      errors: stats.errors
    }
  }
  const text = JSON.stringify(out, null, 1)
  if (args.out) fs.writeFileSync(args.out, text)
  else console.log(text)
  // sockets may linger; do not wait for them
  process.exit(error ? 1 : 0)
}

main()
