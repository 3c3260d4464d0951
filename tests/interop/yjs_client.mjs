// A stock Yjs participant driven by the Python tests over stdin/stdout (one JSON object per line).
// Usage: node yjs_client.mjs WS_BASE ROOM NAME
// stdin commands: {"op":"insert","text":"...","index":N?} | {"op":"awareness","state":{...}} | {"op":"quit"}
// stdout events:  {"event":"synced"} | {"event":"text","text":"..."} | {"event":"awareness","states":{id: state}}
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import WebSocket from 'ws'
import readline from 'node:readline'

const [base, room, name] = process.argv.slice(2)
const doc = new Y.Doc()
const text = doc.getText('code')
const provider = new WebsocketProvider(base, room, doc, { WebSocketPolyfill: WebSocket, disableBc: true })
const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')

provider.awareness.setLocalStateField('user', { name, color: '#1f77b4' })
provider.on('sync', (synced) => { if (synced) emit({ event: 'synced' }) })
text.observe(() => emit({ event: 'text', text: text.toString() }))
provider.awareness.on('change', () => {
  const states = {}
  for (const [id, state] of provider.awareness.getStates()) states[id] = state
  emit({ event: 'awareness', states })
})

const rl = readline.createInterface({ input: process.stdin })
rl.on('line', (line) => {
  const cmd = JSON.parse(line)
  if (cmd.op === 'insert') text.insert(cmd.index ?? text.length, cmd.text)
  else if (cmd.op === 'awareness') provider.awareness.setLocalStateField('user', cmd.state)
  else if (cmd.op === 'quit') { provider.destroy(); process.exit(0) }
})
rl.on('close', () => { provider.destroy(); process.exit(0) })
