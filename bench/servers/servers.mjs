// The servers the benchmark runs side by side: how each is started (always bound to
// 127.0.0.1 on a port the runner picks) and which framing its clients speak.
//
// Each entry:
//   name, version, proto ('yws' = y-websocket framing; 'hocuspocus' = document name first,
//   auth frame before sync), check() -> null when runnable or a reason string to skip it,
//   command(port, dataDir, extraPorts) -> { cmd, args, env }
//   optional: ports (how many ports it listens on, default 1; the runner passes the others as
//   extraPorts, gives the generator the second one as --url2 and waits for all of them),
//   helperPorts (further free ports for the server's own use, e.g. its redis-server, appended to
//   extraPorts), workloads (the only workloads it runs; default every one except those of
//   ONLY_ON below)
// The runner stops a server by SIGTERM to its process group, then SIGKILL after 5 s.
import fs from 'node:fs'
import path from 'node:path'
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const BENCH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const REPO = path.resolve(BENCH, '..')
const PEERS_PY = path.join(BENCH, '.venv-peers', 'bin', 'python')
const COLLAB = process.env.COLLAB_BIN || path.join(REPO, '.venv', 'bin', 'collab')

function pkgVersion (name) {
  try {
    return JSON.parse(fs.readFileSync(path.join(BENCH, 'node_modules', name, 'package.json'), 'utf8')).version
  } catch { return null }
}

function pyVersion (dist) {
  try {
    return execFileSync(PEERS_PY, ['-c', `import importlib.metadata as m; print(m.version("${dist}"))`], { encoding: 'utf8' }).trim()
  } catch { return null }
}

const node = process.execPath

function collabCheck () {
  if (!fs.existsSync(COLLAB)) return `${COLLAB} not found (install the project: pip install -e .)`
  try {
    execFileSync(COLLAB, ['serve', '--help'], { stdio: 'ignore', timeout: 20000 })
  } catch (e) {
    return `\`${COLLAB} serve --help\` failed (${e.status ?? e.code}): the hub's serve command is not there yet`
  }
  return null
}

function collabVersion () {
  try { return execFileSync(COLLAB, ['--version'], { encoding: 'utf8', timeout: 20000 }).trim() } catch { return 'unknown' }
}

// The hub's defaults protect a public hub from one address (docs/self-hosting.md, "Limits"); the
// benchmark is one address opening 1,000 loopback connections (e-conn) and 1,000 rooms by first
// connect (e-room, b's 100), which those defaults refuse (256 connections per address, 30 new rooms
// a minute). Only those two are lifted: the write quotas (64 MiB burst, then 1 MiB/s per connection
// and 2 MiB/s per room), presence pacing and the 300 s idle timeout stay at their defaults, because
// no workload comes near them (the largest write, d's 100,000-update seed, is a few MB against the
// 64 MiB burst) and their per-frame cost is part of what the benchmark measures.
export const COLLAB_BENCH_FLAGS = ['--max-connections-per-ip', '0', '--max-rooms-per-ip-per-minute', '0']

function hasTool (name) {
  try { execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }); return true } catch { return false }
}

// Workloads only some servers can run: g needs the hub's encrypted rooms (and a Python
// generator), crosshub starts its own two hubs and Redis.
export const ONLY_ON = { g: ['collab'], crosshub: ['collab-redis-2'] }

export const SERVERS = [
  {
    name: 'collab',
    describe: 'this project\'s hub, plaintext y-websocket rooms (collab serve)',
    proto: 'yws',
    version: collabVersion,
    check: collabCheck,
    command: (port, dataDir) => ({
      cmd: COLLAB,
      args: ['serve', '--host', '127.0.0.1', '--port', String(port), '--data', dataDir, ...COLLAB_BENCH_FLAGS],
      env: {}
    })
  },
  {
    name: 'collab-redis-2',
    describe: 'two collab serve processes sharing rooms through one redis-server (AOF, fsync every second; servers/collab_redis2.sh); each room\'s clients alternate between the two hubs; CPU and RSS are the three processes together',
    proto: 'yws',
    ports: 2,
    helperPorts: 1,
    workloads: ['a', 'c', 'crosshub'],
    version: () => {
      let redis = 'redis ?'
      try { redis = execFileSync('redis-server', ['--version'], { encoding: 'utf8' }).match(/v=(\S+)/)?.[1] } catch { }
      return `${collabVersion()} + redis ${redis}`
    },
    check () {
      for (const tool of ['redis-server', 'redis-cli']) if (!hasTool(tool)) return `${tool} is not installed (apt-get install redis-server)`
      return collabCheck()
    },
    command: (port, dataDir, [port2, redisPort]) => ({
      cmd: 'bash',
      args: [path.join(BENCH, 'servers', 'collab_redis2.sh'), COLLAB, String(port), String(port2), String(redisPort), dataDir, ...COLLAB_BENCH_FLAGS],
      env: {}
    })
  },
  {
    name: 'y-websocket',
    describe: 'classic y-websocket server (bin/server.cjs), in-memory docs, no persistence',
    proto: 'yws',
    version: () => pkgVersion('y-websocket'),
    check: () => pkgVersion('y-websocket') ? null : 'bench/node_modules missing: run npm ci in bench/',
    command: (port) => ({
      cmd: node,
      args: [path.join(BENCH, 'node_modules', 'y-websocket', 'bin', 'server.cjs')],
      env: { HOST: '127.0.0.1', PORT: String(port) }
    })
  },
  {
    name: 'hocuspocus',
    describe: '@hocuspocus/server without extensions (servers/hocuspocus.mjs)',
    proto: 'hocuspocus',
    version: () => pkgVersion('@hocuspocus/server'),
    check: () => pkgVersion('@hocuspocus/server') ? null : 'bench/node_modules missing: run npm ci in bench/',
    command: (port) => ({
      cmd: node,
      args: [path.join(BENCH, 'servers', 'hocuspocus.mjs')],
      env: { HOST: '127.0.0.1', PORT: String(port) }
    })
  },
  {
    name: 'pycrdt-websocket',
    describe: 'pycrdt-websocket ASGIServer on uvicorn (servers/pycrdt_websocket_server.py)',
    proto: 'yws',
    version: () => pyVersion('pycrdt-websocket'),
    check: () => fs.existsSync(PEERS_PY) && pyVersion('pycrdt-websocket') ? null : 'bench/.venv-peers missing: pip install -r bench/requirements-peers.txt into it',
    command: (port) => ({
      cmd: PEERS_PY,
      args: [path.join(BENCH, 'servers', 'pycrdt_websocket_server.py')],
      env: { HOST: '127.0.0.1', PORT: String(port) }
    })
  }
]
