// Wire formats used by the load generator, with no I/O.
//
// - y-websocket framing (y-protocols): varuint message type (0 sync, 1 awareness,
//   3 query-awareness), sync sub-type (0 step1, 1 step2, 2 update), varUint8Array payload.
// - Hocuspocus framing: the same, prefixed by varString document name, plus its own
//   message types (2 auth, 4 sync-reply, 8 sync-status ack).
// - Pre-encoded Yjs v1 updates that set one fresh key on the root Y.Map "m". The key is
//   "<writer>:<seq>", so a receiver can attribute every update it gets, even when a
//   server merges several updates into one frame.
// - A fast, allocation-free reader of Yjs v1 updates that reports the "<w>:<seq>" keys
//   of the map items an update carries (checked against Y.applyUpdate in selftest.mjs).

export const MSG_SYNC = 0
export const MSG_AWARENESS = 1
export const MSG_AUTH = 2
export const MSG_QUERY_AWARENESS = 3
export const MSG_SYNC_REPLY = 4 // hocuspocus only
export const MSG_SYNC_STATUS = 8 // hocuspocus only
export const SYNC_STEP1 = 0
export const SYNC_STEP2 = 1
export const SYNC_UPDATE = 2

export const MAP_NAME = 'm'

// ---------------------------------------------------------------- encoding helpers

export class Writer {
  constructor (size = 64) {
    this.buf = new Uint8Array(size)
    this.pos = 0
  }

  ensure (n) {
    if (this.pos + n > this.buf.length) {
      const nb = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n))
      nb.set(this.buf.subarray(0, this.pos))
      this.buf = nb
    }
  }

  u8 (b) { this.ensure(1); this.buf[this.pos++] = b }

  varUint (n) {
    this.ensure(10)
    while (n > 0x7f) {
      this.buf[this.pos++] = 0x80 | (n & 0x7f)
      n = Math.floor(n / 128)
    }
    this.buf[this.pos++] = n
  }

  bytes (b) { this.ensure(b.length); this.buf.set(b, this.pos); this.pos += b.length }

  varBytes (b) { this.varUint(b.length); this.bytes(b) }

  varString (s) { this.varBytes(textEncoder.encode(s)) }

  done () { return this.buf.slice(0, this.pos) }
}

const textEncoder = new TextEncoder()

/** Prefix for Hocuspocus frames (varString document name), or an empty prefix. */
export function framePrefix (docName) {
  if (docName == null) return new Uint8Array(0)
  const w = new Writer(); w.varString(docName); return w.done()
}

function frame (prefix, build) {
  const w = new Writer(64)
  w.bytes(prefix)
  build(w)
  return w.done()
}

/** sync step1 carrying an (encoded) state vector; [0] is the empty state vector. */
export function syncStep1 (prefix, stateVector = Uint8Array.of(0)) {
  return frame(prefix, w => { w.varUint(MSG_SYNC); w.varUint(SYNC_STEP1); w.varBytes(stateVector) })
}

/** sync step2 carrying an update; [0,0] is the empty update. */
export function syncStep2 (prefix, update = Uint8Array.of(0, 0)) {
  return frame(prefix, w => { w.varUint(MSG_SYNC); w.varUint(SYNC_STEP2); w.varBytes(update) })
}

export function syncUpdate (prefix, update) {
  return frame(prefix, w => { w.varUint(MSG_SYNC); w.varUint(SYNC_UPDATE); w.varBytes(update) })
}

/** Hocuspocus auth frame (token sub-type 0, empty token). */
export function hocuspocusAuth (prefix, token = '') {
  return frame(prefix, w => { w.varUint(MSG_AUTH); w.varUint(0); w.varString(token) })
}

// ---------------------------------------------------------------- pre-encoded updates

const ASCII_COLON = 58
const ASCII_ZERO = 48

/**
 * Encoder of the Yjs v1 update that sets key "<writer>:<seq>" on root map "m" to a string.
 * The client's items are all map entries of length 1, so the update for seq s starts at
 * clock s. The encoding is byte-for-byte what Yjs produces (selftest.mjs checks it).
 */
export class MapSetEncoder {
  constructor (clientId, writer, payloadBytes = 16) {
    this.clientId = clientId
    this.writer = writer
    this.value = textEncoder.encode('x'.repeat(payloadBytes))
  }

  /** Bytes of the complete sync-update frame for seq, with the given frame prefix. */
  frame (prefix, seq) {
    const w = new Writer(48 + prefix.length + this.value.length)
    w.bytes(prefix)
    w.varUint(MSG_SYNC); w.varUint(SYNC_UPDATE)
    const u = this.update(seq)
    w.varBytes(u)
    return w.done()
  }

  update (seq) {
    const w = new Writer(40 + this.value.length)
    w.varUint(1) // one client
    w.varUint(1) // one struct
    w.varUint(this.clientId)
    w.varUint(seq) // clock
    // info: ContentAny (8) | parentSub (0x20); no origin, no right origin
    w.u8(8 | 0x20)
    w.varUint(1) // parent is a root type named by key
    w.varUint(1); w.u8(MAP_NAME.charCodeAt(0))
    const key = textEncoder.encode(`${this.writer}:${seq}`)
    w.varBytes(key)
    w.varUint(1) // ContentAny with one value
    w.u8(119) // any: string
    w.varBytes(this.value)
    w.varUint(0) // empty delete set
    return w.done()
  }
}

// ---------------------------------------------------------------- fast update reader

class ParseError extends Error {}

/**
 * Reads a Yjs v1 update in buf[start, end) and calls onKey(writer, seq) for every map item
 * whose parentSub key has the form "<digits>:<digits>". Returns the number of structs read.
 * Throws ParseError on anything it does not understand (the caller falls back to Yjs).
 */
export function forEachKey (buf, start, end, onKey) {
  let p = start
  const readVarUint = () => {
    let n = 0; let mult = 1
    for (;;) {
      if (p >= end) throw new ParseError('eof')
      const b = buf[p++]
      n += (b & 0x7f) * mult
      if (b < 0x80) return n
      mult *= 128
      if (mult > 2 ** 53) throw new ParseError('varuint overflow')
    }
  }
  const skipVar = () => { // varuint or varint: skip to the byte without continuation bit
    for (;;) {
      if (p >= end) throw new ParseError('eof')
      if (buf[p++] < 0x80) return
    }
  }
  const skipBytes = () => { const n = readVarUint(); p += n; if (p > end) throw new ParseError('eof') }
  const skipAny = (depth) => {
    if (depth > 64) throw new ParseError('nesting')
    const t = buf[p++]
    switch (t) {
      case 127: case 126: case 121: case 120: return
      case 125: skipVar(); return
      case 124: p += 4; return
      case 123: case 122: p += 8; return
      case 119: skipBytes(); return
      case 118: { const n = readVarUint(); for (let i = 0; i < n; i++) { skipBytes(); skipAny(depth + 1) } return }
      case 117: { const n = readVarUint(); for (let i = 0; i < n; i++) skipAny(depth + 1); return }
      case 116: skipBytes(); return
      default: throw new ParseError('any type ' + t)
    }
  }
  let structs = 0
  const numClients = readVarUint()
  for (let c = 0; c < numClients; c++) {
    const numStructs = readVarUint()
    skipVar() // client
    skipVar() // clock
    for (let i = 0; i < numStructs; i++) {
      structs++
      if (p >= end) throw new ParseError('eof')
      const info = buf[p++]
      const ref = info & 0x1f
      if (ref === 0 || ref === 10) { skipVar(); continue } // GC, Skip
      const hasOrigin = (info & 0x80) !== 0
      const hasRight = (info & 0x40) !== 0
      const hasSub = (info & 0x20) !== 0
      if (hasOrigin) { skipVar(); skipVar() }
      if (hasRight) { skipVar(); skipVar() }
      if (!hasOrigin && !hasRight) {
        const isYKey = readVarUint()
        if (isYKey === 1) skipBytes(); else { skipVar(); skipVar() }
        if (hasSub) {
          // parentSub: parse "<w>:<seq>" straight from the bytes
          const len = readVarUint()
          const kEnd = p + len
          if (kEnd > end) throw new ParseError('eof')
          let w = 0; let s = 0; let q = p; let ok = len >= 3
          while (q < kEnd && buf[q] !== ASCII_COLON) {
            const d = buf[q] - ASCII_ZERO
            if (d < 0 || d > 9) { ok = false; break }
            w = w * 10 + d; q++
          }
          if (ok && q < kEnd && q > p) {
            q++
            if (q === kEnd) ok = false
            while (q < kEnd) {
              const d = buf[q] - ASCII_ZERO
              if (d < 0 || d > 9) { ok = false; break }
              s = s * 10 + d; q++
            }
          } else ok = false
          p = kEnd
          if (ok) onKey(w, s)
        }
      }
      switch (ref) {
        case 1: skipVar(); break // Deleted
        case 2: { const n = readVarUint(); for (let k = 0; k < n; k++) skipBytes(); break } // JSON
        case 3: skipBytes(); break // Binary
        case 4: skipBytes(); break // String
        case 5: skipBytes(); break // Embed
        case 6: skipBytes(); skipBytes(); break // Format
        case 7: { const t = readVarUint(); if (t === 3 || t === 5) skipBytes(); break } // Type
        case 8: { const n = readVarUint(); for (let k = 0; k < n; k++) skipAny(0); break } // Any
        case 9: skipBytes(); skipAny(0); break // Doc
        default: throw new ParseError('content ref ' + ref)
      }
      if (p > end) throw new ParseError('eof')
    }
  }
  return structs
}

/** Reads varuint at buf[p]; returns [value, nextPos]. */
export function readVarUintAt (buf, p) {
  let n = 0; let mult = 1
  for (;;) {
    const b = buf[p++]
    if (b === undefined) throw new ParseError('eof')
    n += (b & 0x7f) * mult
    if (b < 0x80) return [n, p]
    mult *= 128
  }
}

export { ParseError }
