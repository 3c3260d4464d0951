// Latency histogram and /proc sampling of the server under test.
import fs from 'node:fs'

const GROWTH = 1.02 // ~1% error on percentiles
const LOG_G = Math.log(GROWTH)
const BUCKETS = 1400 // 1 us * 1.02^1400 ~ 10^12 us: plenty

/** Log-bucketed histogram of values in milliseconds (stored in microseconds). */
export class Histogram {
  constructor () {
    this.counts = new Float64Array(BUCKETS)
    this.n = 0; this.sum = 0; this.min = Infinity; this.max = 0
  }

  record (ms) {
    if (!(ms >= 0)) ms = 0
    const us = ms * 1000
    const i = us < 1 ? 0 : Math.min(BUCKETS - 1, 1 + Math.floor(Math.log(us) / LOG_G))
    this.counts[i]++
    this.n++; this.sum += ms
    if (ms < this.min) this.min = ms
    if (ms > this.max) this.max = ms
  }

  merge (o) {
    for (let i = 0; i < BUCKETS; i++) this.counts[i] += o.counts[i]
    this.n += o.n; this.sum += o.sum
    this.min = Math.min(this.min, o.min); this.max = Math.max(this.max, o.max)
  }

  /** q in [0,1]; value in ms (geometric middle of the bucket, clamped to min/max). */
  quantile (q) {
    if (this.n === 0) return null
    const target = q * this.n
    let acc = 0
    for (let i = 0; i < BUCKETS; i++) {
      acc += this.counts[i]
      if (acc >= target && this.counts[i] > 0) {
        const v = i === 0 ? 0.0005 : Math.pow(GROWTH, i - 0.5) / 1000
        return Math.min(this.max, Math.max(this.min, v))
      }
    }
    return this.max
  }

  summary () {
    const r = (x) => x == null ? null : Math.round(x * 1000) / 1000
    if (this.n === 0) return { count: 0 }
    return {
      count: this.n,
      mean: r(this.sum / this.n),
      p50: r(this.quantile(0.5)),
      p90: r(this.quantile(0.9)),
      p99: r(this.quantile(0.99)),
      p999: r(this.quantile(0.999)),
      min: r(this.min),
      max: r(this.max)
    }
  }
}

const CLK_TCK = 100 // USER_HZ on Linux
const PAGE = 4096

function childrenOf (pid) {
  const out = []
  try {
    for (const t of fs.readdirSync(`/proc/${pid}/task`)) {
      const c = fs.readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim()
      if (c) for (const x of c.split(/\s+/)) out.push(Number(x))
    }
  } catch { }
  return out
}

/** The pid and all its descendants. */
export function processTree (pid) {
  const all = []; const todo = [pid]
  while (todo.length) {
    const p = todo.pop(); all.push(p)
    todo.push(...childrenOf(p))
  }
  return all
}

/** CPU seconds (user+system) and RSS bytes of a process tree, or null if it is gone. */
export function sampleTree (pid) {
  if (!pid) return null
  let cpu = 0; let rss = 0; let alive = false
  for (const p of processTree(pid)) {
    try {
      const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8')
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      cpu += (Number(f[11]) + Number(f[12])) / CLK_TCK // utime, stime (fields 14, 15)
      rss += Number(f[21]) * PAGE // rss pages (field 24)
      alive = true
    } catch { }
  }
  return alive ? { cpu, rss } : null
}

/** Busy and total CPU seconds of the whole machine (all cores), from /proc/stat. */
export function machineCpu () {
  try {
    const line = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]
    const f = line.trim().split(/\s+/).slice(1).map(Number)
    const idle = f[3] + (f[4] || 0) // idle + iowait
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0)
    return { busy: (total - idle) / CLK_TCK, total: total / CLK_TCK }
  } catch { return null }
}

/** Samples a process tree's RSS every interval ms; tracks its max and CPU use over a window. */
export class ServerMonitor {
  constructor (pid, intervalMs = 200) {
    this.pid = pid
    this.maxRss = 0
    this.lastRss = 0
    this.timer = null
    this.intervalMs = intervalMs
  }

  start () {
    if (!this.pid) return this
    const tick = () => {
      const s = sampleTree(this.pid)
      if (s) { this.lastRss = s.rss; if (s.rss > this.maxRss) this.maxRss = s.rss }
    }
    tick()
    this.timer = setInterval(tick, this.intervalMs)
    this.timer.unref()
    return this
  }

  stop () { if (this.timer) clearInterval(this.timer); this.timer = null }

  /** Opens a window: returns a function that closes it and reports CPU % and max RSS. */
  window () {
    const s0 = sampleTree(this.pid)
    const m0 = machineCpu()
    const t0 = performance.now()
    const c0 = process.cpuUsage()
    this.maxRss = s0 ? s0.rss : 0
    return () => {
      const s1 = sampleTree(this.pid)
      const wall = (performance.now() - t0) / 1000
      const c1 = process.cpuUsage(c0)
      const m1 = machineCpu()
      if (s1 && s1.rss > this.maxRss) this.maxRss = s1.rss
      const server = s0 && s1 ? 100 * (s1.cpu - s0.cpu) / wall : null
      const loadgen = 100 * (c1.user + c1.system) / 1e6 / wall
      const machine = m0 && m1 ? 100 * (m1.busy - m0.busy) / wall : null
      return {
        wall_s: round(wall, 3),
        server_cpu_pct: round(server, 1),
        server_rss_mb: s1 ? round(s1.rss / 2 ** 20, 1) : null,
        server_rss_max_mb: this.maxRss ? round(this.maxRss / 2 ** 20, 1) : null,
        loadgen_cpu_pct: round(loadgen, 1),
        // CPU used by anything else on the machine meanwhile (kernel work not charged to
        // either process included); high values mean the figures are disturbed
        other_cpu_pct: machine != null && server != null ? round(Math.max(0, machine - server - loadgen), 1) : null
      }
    }
  }
}

export function round (x, d = 3) {
  if (x == null || !Number.isFinite(x)) return x
  const m = 10 ** d
  return Math.round(x * m) / m
}
