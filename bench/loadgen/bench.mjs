#!/usr/bin/env node
// Runner: for every server and every workload, start a fresh server process bound to
// 127.0.0.1, run the load generator against it (a child process: gen.mjs), stop the server,
// and collect everything into bench/out/results.json.
//
//   node bench/loadgen/bench.mjs [--quick] [--servers a,b] [--workloads a,c] [--out DIR]
import { spawn, execFileSync } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { fileURLToPath } from 'node:url'
import { SERVERS, ONLY_ON } from '../servers/servers.mjs'
import { machineCpu } from './stats.mjs'

const HERE = path.dirname(fileURLToPath(import.meta.url))
const BENCH = path.resolve(HERE, '..')
const REPO = path.resolve(BENCH, '..')
// the project's interpreter (has collab, websockets, pycrdt): the Python generators run on it
const REPO_PY = process.env.COLLAB_PYTHON || path.join(path.dirname(process.env.COLLAB_BIN || path.join(REPO, '.venv', 'bin', 'collab')), 'python')

export const ALL_WORKLOADS = ['race', 'e-conn', 'e-room', 'a', 'b', 'c', 'd', 'a-deflate', 'g', 'crosshub']

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    servers: { type: 'string', default: SERVERS.map(s => s.name).join(',') },
    workloads: { type: 'string', default: ALL_WORKLOADS.join(',') },
    out: { type: 'string', default: path.join(BENCH, 'out') },
    command: { type: 'string', default: '' }
  }
})

const outDir = path.resolve(args.out)
const logDir = path.join(outDir, 'logs')
fs.mkdirSync(logDir, { recursive: true })
const sleep = (ms) => new Promise(resolve => setTimeout(resolve, ms))
const log = (...a) => console.log(`[bench ${new Date().toISOString().slice(11, 19)}]`, ...a)

function freePort () {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.listen(0, '127.0.0.1', () => { const { port } = srv.address(); srv.close(() => resolve(port)) })
    srv.on('error', reject)
  })
}

function waitPort (port, timeoutMs, child) {
  const t0 = Date.now()
  return new Promise((resolve, reject) => {
    const attempt = () => {
      if (child.exitCode !== null || child.signalCode !== null) return reject(new Error(`server exited (${child.exitCode ?? child.signalCode}) before listening`))
      const s = net.connect(port, '127.0.0.1')
      s.once('connect', () => { s.destroy(); resolve(Date.now() - t0) })
      s.once('error', () => {
        s.destroy()
        if (Date.now() - t0 > timeoutMs) reject(new Error(`port ${port} not listening after ${timeoutMs} ms`))
        else setTimeout(attempt, 100)
      })
    }
    attempt()
  })
}

function tail (file, n = 2000) {
  try { const s = fs.readFileSync(file, 'utf8'); return s.slice(-n) } catch { return '' }
}

async function startServer (server, tag) {
  const port = await freePort()
  const extra = []
  while (extra.length < (server.ports || 1) - 1 + (server.helperPorts || 0)) {
    const p = await freePort()
    if (p !== port && !extra.includes(p)) extra.push(p)
  }
  const listening = [port, ...extra.slice(0, (server.ports || 1) - 1)]
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `bench-${server.name}-`))
  const { cmd, args: argv, env } = server.command(port, dataDir, extra)
  const logFile = path.join(logDir, `${server.name}-${tag}.log`)
  const fd = fs.openSync(logFile, 'w')
  const child = spawn(cmd, argv, {
    env: { ...process.env, ...env },
    cwd: BENCH,
    stdio: ['ignore', fd, fd],
    detached: true // own process group, so stop() reaches its children too
  })
  fs.closeSync(fd)
  let readyMs = 0
  for (const p of listening) readyMs = Math.max(readyMs, await waitPort(p, 30000, child))
  await sleep(200)
  return { child, port, port2: listening[1], extra, dataDir, logFile, readyMs, command: [cmd, ...argv].join(' ') }
}

async function stopServer (s) {
  const { child } = s
  const gone = () => child.exitCode !== null || child.signalCode !== null
  if (!gone()) {
    try { process.kill(-child.pid, 'SIGTERM') } catch { }
    for (let i = 0; i < 50 && !gone(); i++) await sleep(100)
    if (!gone()) { try { process.kill(-child.pid, 'SIGKILL') } catch { } await sleep(200) }
  }
  fs.rmSync(s.dataDir, { recursive: true, force: true })
}

/**
 * Waits until the rest of the machine is quiet (other processes using < 30 % of a core over
 * a second), at most maxS seconds; returns the last reading (% of one core).
 */
let quietBudgetS = 120 // in all, over the run

async function waitQuiet (maxS) {
  maxS = Math.min(maxS, quietBudgetS)
  const t0 = Date.now()
  let busy = null
  for (;;) {
    const a = machineCpu()
    await sleep(1000)
    const b = machineCpu()
    busy = a && b ? Math.round(100 * (b.busy - a.busy)) : null
    if (busy == null || busy < 30 || Date.now() - t0 >= maxS * 1000) break
  }
  quietBudgetS = Math.max(0, quietBudgetS - (Date.now() - t0) / 1000 + 1)
  return busy
}

function runGen (server, s, workload, timeoutMs) {
  const { port, port2 } = s
  const pid = s.child.pid
  const deadlineS = Math.max(5, Math.floor(timeoutMs / 1000) - 10)
  const outFile = path.join(outDir, `raw-${server.name}-${workload}.json`)
  fs.rmSync(outFile, { force: true })
  let exe = process.execPath
  let argv = [path.join(HERE, 'gen.mjs'), '--url', `ws://127.0.0.1:${port}`, '--proto', server.proto,
    '--workload', workload, '--server-pid', String(pid), '--out', outFile, '--deadline-s', String(deadlineS)]
  if (port2) argv.push('--url2', `ws://127.0.0.1:${port2}`)
  if (workload === 'g') {
    // encrypted against plaintext rooms: a Python generator using collab's own crypto
    exe = REPO_PY
    argv = [path.join(HERE, 'e2ee_gen.py'), '--url', `http://127.0.0.1:${port}`, '--server-pid', String(pid),
      '--out', outFile, '--deadline-s', String(deadlineS)]
  }
  if (args.quick) argv.push('--quick')
  return new Promise((resolve) => {
    const child = spawn(exe, argv, { stdio: ['ignore', 'inherit', 'inherit'], cwd: REPO })
    const timer = setTimeout(() => { child.kill('SIGKILL') }, timeoutMs)
    child.on('exit', (code, sig) => {
      clearTimeout(timer)
      let res
      try { res = JSON.parse(fs.readFileSync(outFile, 'utf8')) } catch { res = { workload, error: `generator exited ${code ?? sig} without a result${sig ? ' (timeout)' : ''}` } }
      resolve(res)
    })
  })
}

function machine () {
  const cpus = os.cpus()
  let py = null
  try { py = execFileSync(path.join(BENCH, '.venv-peers', 'bin', 'python'), ['--version'], { encoding: 'utf8' }).trim() } catch { }
  return {
    cpu: cpus[0]?.model, cores: cpus.length, mem_gb: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()}`, node: process.version, python: py
  }
}

const TIMEOUT_S = { race: 60, 'e-conn': 90, 'e-room': 90, a: 90, 'a-deflate': 60, b: 120, c: 240, d: 300, g: 200, crosshub: 60 }

/**
 * Same-hub against cross-hub fan-out latency (bench/crosshub.py: its own redis-server and two
 * hubs, one update at a time), once per Redis appendfsync mode.
 */
function runCrosshub (timeoutMs) {
  const updates = args.quick ? 200 : 1000
  const runs = []
  for (const fsync of ['everysec', 'always']) {
    const t0 = Date.now()
    let line
    try {
      line = execFileSync(REPO_PY, [path.join(BENCH, 'crosshub.py'), '--updates', String(updates), '--appendfsync', fsync],
        { cwd: REPO, encoding: 'utf8', timeout: timeoutMs / 2, stdio: ['ignore', 'pipe', 'pipe'] }).trim().split('\n').pop()
    } catch (e) {
      return { workload: 'crosshub', error: `crosshub.py --appendfsync ${fsync} failed: ${(e.stderr || e.message || '').toString().slice(-600)}` }
    }
    const r = { appendfsync: fsync, line, wall_s: (Date.now() - t0) / 1000 }
    for (const m of line.matchAll(/(\w+)=([\d.]+)/g)) r[m[1]] = Number(m[2])
    runs.push(r)
  }
  return { workload: 'crosshub', quick: args.quick, params: { updates, one_at_a_time: true }, result: runs }
}

async function main () {
  const wanted = args.servers.split(',').filter(Boolean)
  const workloads = args.workloads.split(',').filter(Boolean)
  const t0 = Date.now()
  const results = {
    started: new Date().toISOString(),
    quick: args.quick,
    command: args.command || `node bench/loadgen/bench.mjs ${process.argv.slice(2).join(' ')}`.trim(),
    machine: machine(),
    workloads,
    servers: {}
  }
  const save = () => fs.writeFileSync(path.join(outDir, 'results.json'), JSON.stringify(results, null, 1))
  for (const name of wanted) {
    const server = SERVERS.find(s => s.name === name)
    if (!server) { log(`unknown server ${name}`); continue }
    const reason = server.check()
    const entry = results.servers[name] = { describe: server.describe, proto: server.proto, workloads: {} }
    if (reason) {
      entry.skipped = reason
      log(`SKIP ${name}: ${reason}`)
      save()
      continue
    }
    entry.version = server.version()
    log(`${name} ${entry.version}`)
    for (const w of workloads) {
      if (server.workloads ? !server.workloads.includes(w) : (ONLY_ON[w] && !ONLY_ON[w].includes(name))) continue
      if (w === 'crosshub') {
        const t = Date.now()
        const res = entry.workloads[w] = runCrosshub((TIMEOUT_S[w] || 60) * 1000)
        log(`  ${w}: ${((Date.now() - t) / 1000).toFixed(1)} s ${res.error ? 'ERROR ' + res.error.split('\n')[0] : headline(w, res)}`)
        save()
        continue
      }
      const busyBefore = await waitQuiet(args.quick ? 5 : 20)
      if (busyBefore >= 30) log(`  warning: the machine is busy (${busyBefore}% of a core used by other processes); figures will be disturbed`)
      let s
      try {
        s = await startServer(server, w)
      } catch (e) {
        entry.workloads[w] = { workload: w, error: `server did not start: ${e.message}\n${tail(path.join(logDir, `${name}-${w}.log`))}` }
        log(`  ${w}: server did not start: ${e.message}`)
        continue
      }
      entry.command = s.command.replace(String(s.port), 'PORT').replace(s.dataDir, 'DIR')
      const t = Date.now()
      const res = await runGen(server, s, w, (TIMEOUT_S[w] || 120) * (args.quick ? 0.5 : 1) * 1000)
      const crashed = s.child.exitCode !== null || s.child.signalCode !== null
      await stopServer(s)
      res.server_ready_ms = s.readyMs
      res.machine_busy_before_pct = busyBefore
      if (crashed) res.server_crashed = tail(s.logFile)
      entry.workloads[w] = res
      const noise = res.other_cpu_pct_max >= 25 ? ` [disturbed: other processes used up to ${res.other_cpu_pct_max}% CPU]` : ''
      log(`  ${w}: ${((Date.now() - t) / 1000).toFixed(1)} s ${res.error ? 'ERROR ' + res.error.split('\n')[0] : headline(w, res)}${noise}`)
      save()
    }
  }
  results.total_s = Math.round((Date.now() - t0) / 1000)
  save()
  log(`done in ${results.total_s} s -> ${path.join(outDir, 'results.json')}`)
}

function headline (w, r) {
  const R = r.result
  if (!R) return ''
  if (w === 'a' || w === 'b' || w === 'a-deflate') return `p50 ${R.latency_ms.p50} ms p99 ${R.latency_ms.p99} ms lost ${R.lost} echoes ${R.echoes} srv ${R.server_cpu_pct}% gen ${R.loadgen_cpu_pct}%`
  if (w === 'c') return `max ${R.max_sustained_updates_per_s} updates/s (${R.max_sustained_deliveries_per_s} deliveries/s) p99 ${R.p99_ms} ms srv ${R.server_cpu_pct}% gen ${R.loadgen_cpu_pct}%; stopped by ${R.stopped_by}`
  if (w === 'd') return R.map(x => `${x.history_updates}: join ${x.join_ms_median} ms, ingest ${x.ingest_updates_per_s}/s`).join('; ')
  if (w === 'e-conn') return `${R.kb_per_conn} kB/conn`
  if (w === 'e-room') return `${R.kb_per_room_with_one_conn} kB/room`
  if (w === 'race') return `${R.hung}/${R.clients} clients hung`
  if (w === 'crosshub') return R.map(x => `fsync ${x.appendfsync}: same hub p50/p99 ${x.same_hub_p50_ms}/${x.same_hub_p99_ms} ms, cross hub ${x.cross_hub_p50_ms}/${x.cross_hub_p99_ms} ms`).join('; ')
  if (w === 'g') {
    const f = (m) => m ? `p50 ${m.latency_ms?.p50} p99 ${m.latency_ms?.p99} ms lost ${m.lost} srv ${m.server_cpu_pct}%` : '–'
    const l = (m) => m ? `${m.max_sustained_updates_per_s}/s` : '–'
    return `a encrypted ${f(R.a?.encrypted)} | plaintext ${f(R.a?.plaintext)}; ladder max encrypted ${l(R.ladder?.encrypted)} plaintext ${l(R.ladder?.plaintext)}`
  }
  return ''
}

main()
