// One simulated y-websocket (or Hocuspocus) client: connects, syncs, sends pre-encoded
// updates when it is a writer, and attributes every update it receives to (writer, seq).
import WebSocket from 'ws'
import * as Y from 'yjs'
import {
  MSG_SYNC, MSG_SYNC_REPLY, MSG_AWARENESS, MSG_AUTH, MSG_QUERY_AWARENESS, MSG_SYNC_STATUS,
  SYNC_STEP1, SYNC_STEP2, SYNC_UPDATE, MAP_NAME,
  framePrefix, syncStep1, syncStep2, hocuspocusAuth, forEachKey, readVarUintAt, MapSetEncoder
} from './protocol.mjs'

/**
 * Shared bookkeeping of one generator run: send times of every (writer, seq), the step each
 * seq belongs to, and per-step counters. Lives in this process, so latency needs no clock sync.
 */
export class Ledger {
  constructor (numWriters, capPerWriter) {
    this.cap = capPerWriter
    this.sendTime = new Float64Array(numWriters * capPerWriter)
    this.stepOf = new Int16Array(numWriters * capPerWriter).fill(-1)
    this.sent = new Int32Array(numWriters) // next seq per writer
    this.writerRoomSize = new Int32Array(numWriters) // receivers per writer (room size - 1)
    this.steps = [] // {hist, echoHist, delivered, echoes, late}
    this.current = -1
    this.open = new Set() // steps still accepting deliveries as on time
  }

  addStep (hist, echoHist) {
    this.steps.push({ hist, echoHist, delivered: 0, late: 0, echoes: 0 })
    this.current = this.steps.length - 1
    this.open.add(this.current)
    return this.current
  }
}

export const stats = {
  frames: 0, updateFrames: 0, bytesIn: 0, acks: 0, awareness: 0, foreign: 0,
  duplicates: 0, parseFallbacks: 0, errors: [], unexpectedCloses: 0
}

function noteError (msg) {
  if (stats.errors.length < 20) stats.errors.push(msg)
}

export class Client {
  /**
   * @param {object} o
   * @param {string} o.url       ws://host:port (path /ws/<room> is appended)
   * @param {'yws'|'hocuspocus'} o.proto
   * @param {string} o.room
   * @param {Ledger} o.ledger
   * @param {number} o.writer    global writer index, or -1
   * @param {boolean} o.verify   also apply everything to a Y.Doc (cross-check of the fast reader)
   * @param {boolean} o.deflate  offer permessage-deflate
   */
  constructor (o) {
    this.url = `${o.url}/ws/${encodeURIComponent(o.room)}`
    this.proto = o.proto
    this.room = o.room
    this.ledger = o.ledger
    this.writer = o.writer ?? -1
    this.deflate = !!o.deflate
    this.prefix = o.proto === 'hocuspocus' ? framePrefix(o.room) : new Uint8Array(0)
    this.seen = new Map() // writer -> Uint8Array bitset of seqs
    this.delivered = 0
    this.echoes = 0
    this.synced = false
    this.ws = null
    this.doc = o.verify ? new Y.Doc() : null
    this.docKeys = 0
    if (this.doc) this.doc.getMap(MAP_NAME).observe(ev => { this.docKeys += ev.keysChanged.size })
    this.historyDoc = null // set by join-time measurement
    this.applyMs = 0 // time spent in Y.applyUpdate of the history, by join-time measurement
    this.encoder = this.writer >= 0 ? new MapSetEncoder(1_000_000 + this.writer, this.writer, o.payload ?? 16) : null
    this._onKey = (w, s) => this.onKey(w, s)
    this.closedByUs = false
  }

  /** Opens the socket and resolves once the server answered our sync step1. */
  connect (timeoutMs = 10000) {
    return new Promise((resolve, reject) => {
      const t0 = performance.now()
      this.connectStart = t0
      const timer = setTimeout(() => {
        this.onSynced = null
        reject(new Error(`sync timeout after ${timeoutMs} ms (room ${this.room})`))
      }, timeoutMs)
      this.onSynced = () => {
        clearTimeout(timer)
        this.syncMs = performance.now() - t0
        resolve(this)
      }
      const ws = new WebSocket(this.url, { perMessageDeflate: this.deflate })
      this.ws = ws
      ws.binaryType = 'nodebuffer'
      ws.on('open', () => {
        this.extensions = ws.extensions
        if (this.proto === 'hocuspocus') ws.send(hocuspocusAuth(this.prefix))
        ws.send(syncStep1(this.prefix))
      })
      ws.on('message', (data) => this.onMessage(data))
      ws.on('error', (err) => {
        noteError(`${this.room}: ${err.message}`)
        clearTimeout(timer); reject(err)
      })
      ws.on('close', (code, reason) => {
        this.closeCode = code
        if (!this.closedByUs) {
          stats.unexpectedCloses++
          noteError(`${this.room}: closed by the server: ${code} ${reason || ''}`.trim())
          if (this.onClosed) this.onClosed(code, String(reason || ''))
        }
        clearTimeout(timer)
        if (!this.synced) reject(new Error(`closed before sync (room ${this.room}): ${code} ${reason || ''}`))
      })
    })
  }

  close () {
    this.closedByUs = true
    if (this.ws) this.ws.terminate()
  }

  /** Sends this writer's next update; returns its seq. */
  sendNext (now) {
    const L = this.ledger
    const w = this.writer
    const seq = L.sent[w]
    if (seq >= L.cap) throw new Error('ledger capacity exceeded')
    const idx = w * L.cap + seq
    L.sent[w] = seq + 1
    L.stepOf[idx] = L.current
    L.sendTime[idx] = now
    this.ws.send(this.encoder.frame(this.prefix, seq))
    return seq
  }

  onMessage (buf) {
    stats.frames++
    stats.bytesIn += buf.length
    let p = 0
    let type
    try {
      if (this.proto === 'hocuspocus') {
        const [n, q] = readVarUintAt(buf, 0); p = q + n // document name
      }
      [type, p] = readVarUintAt(buf, p)
      if (type === MSG_SYNC || type === MSG_SYNC_REPLY) {
        let sub; [sub, p] = readVarUintAt(buf, p)
        if (sub === SYNC_STEP1) {
          this.ws.send(syncStep2(this.prefix))
          return
        }
        let len; [len, p] = readVarUintAt(buf, p)
        if (sub === SYNC_UPDATE) stats.updateFrames++
        this.onUpdate(buf, p, p + len)
        if (sub === SYNC_STEP2) {
          if (!this.synced) {
            this.synced = true
            if (this.onSynced) this.onSynced()
          }
          if (this.onStep2) this.onStep2(len)
        }
      } else if (type === MSG_AWARENESS || type === MSG_QUERY_AWARENESS) {
        stats.awareness++
      } else if (type === MSG_SYNC_STATUS) {
        stats.acks++
      } else if (type === MSG_AUTH) {
        let sub; [sub, p] = readVarUintAt(buf, p)
        if (sub === 1) noteError(`${this.room}: permission denied`)
      }
    } catch (e) {
      noteError(`${this.room}: bad frame: ${e.message}`)
    }
  }

  onUpdate (buf, start, end) {
    if (this.historyDoc) {
      // The joining client's own share of a join, timed: with a big history it is most of it
      const t0 = performance.now()
      Y.applyUpdate(this.historyDoc, buf.subarray(start, end))
      this.applyMs += performance.now() - t0
      if (this.onHistory) this.onHistory()
      return
    }
    if (end - start <= 2) return // empty update
    this.now = performance.now()
    try {
      forEachKey(buf, start, end, this._onKey)
    } catch (e) {
      // Not understood by the fast reader: let Yjs decode it.
      stats.parseFallbacks++
      const { structs } = Y.decodeUpdate(buf.subarray(start, end))
      for (const s of structs) {
        if (s.parentSub && s.origin === null && s.rightOrigin === null) {
          const m = /^(\d+):(\d+)$/.exec(s.parentSub)
          if (m) this.onKey(Number(m[1]), Number(m[2]))
        }
      }
    }
    if (this.doc) Y.applyUpdate(this.doc, buf.subarray(start, end))
  }

  onKey (w, s) {
    const L = this.ledger
    if (w >= L.sent.length || s >= L.cap) { stats.foreign++; return }
    let bits = this.seen.get(w)
    if (bits === undefined) { bits = new Uint8Array((L.cap + 7) >> 3); this.seen.set(w, bits) }
    const byte = s >> 3; const mask = 1 << (s & 7)
    if (bits[byte] & mask) { stats.duplicates++; return }
    bits[byte] |= mask
    const idx = w * L.cap + s
    const step = L.stepOf[idx]
    if (step < 0) { stats.foreign++; return } // not sent by this run (yet)
    const st = L.steps[step]
    const lat = this.now - L.sendTime[idx]
    if (w === this.writer) {
      this.echoes++
      st.echoes++
      st.echoHist.record(lat)
      return
    }
    this.delivered++
    if (L.open.has(step)) {
      st.delivered++
      st.hist.record(lat)
    } else {
      st.late++
    }
  }
}
