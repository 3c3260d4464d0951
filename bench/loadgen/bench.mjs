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
import { SERVERS } from '../servers/servers.mjs'
import { machineCpu } from './stats.mjs'

const HERE = path.dirname(fileURLToPath(import.meta.url))
const BENCH = path.resolve(HERE, '..')

export const ALL_WORKLOADS = ['race', 'e-conn', 'e-room', 'a', 'b', 'c', 'd', 'a-deflate']

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
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `bench-${server.name}-`))
  const { cmd, args: argv, env } = server.command(port, dataDir)
  const logFile = path.join(logDir, `${server.name}-${tag}.log`)
  const fd = fs.openSync(logFile, 'w')
  const child = spawn(cmd, argv, {
    env: { ...process.env, ...env },
    cwd: BENCH,
    stdio: ['ignore', fd, fd],
    detached: true // own process group, so stop() reaches its children too
  })
  fs.closeSync(fd)
  const readyMs = await waitPort(port, 30000, child)
  await sleep(200)
  return { child, port, dataDir, logFile, readyMs, command: [cmd, ...argv].join(' ') }
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

function runGen (server, port, pid, workload, timeoutMs) {
  const deadlineS = Math.max(5, Math.floor(timeoutMs / 1000) - 10)
  const outFile = path.join(outDir, `raw-${server.name}-${workload}.json`)
  fs.rmSync(outFile, { force: true })
  const argv = [path.join(HERE, 'gen.mjs'), '--url', `ws://127.0.0.1:${port}`, '--proto', server.proto,
    '--workload', workload, '--server-pid', String(pid), '--out', outFile, '--deadline-s', String(deadlineS)]
  if (args.quick) argv.push('--quick')
  return new Promise((resolve) => {
    const child = spawn(process.execPath, argv, { stdio: ['ignore', 'inherit', 'inherit'] })
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

const TIMEOUT_S = { race: 60, 'e-conn': 90, 'e-room': 90, a: 90, 'a-deflate': 60, b: 120, c: 240, d: 300 }

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
      const res = await runGen(server, s.port, s.child.pid, w, (TIMEOUT_S[w] || 120) * (args.quick ? 0.5 : 1) * 1000)
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
  return ''
}

main()
