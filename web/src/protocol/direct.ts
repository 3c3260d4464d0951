// Direct messages (docs/protocol.md, "Direct messages"): ephemeral state addressed to one
// participant, relayed by the hub to that one connection and stored nowhere. Pure encoding and
// parsing here; the transports carry them (plaintext: y-websocket message type 100, encrypted:
// DIRECT / DIRECT_RELAY frames with an awareness envelope). Python twins: collab/protocol/yjs.py
// (direct_message), collab/protocol/relay_frames.py (direct, direct_relay).
import * as decoding from "lib0/decoding";
import * as encoding from "lib0/encoding";
import { toHex } from "../crypto/bytes.js";
import { MAX_DEPTH, nestingDepth } from "../presence/peer.js";

/** y-websocket message type of a direct message (collab's own; stock clients never send it). */
export const MESSAGE_DIRECT = 100;

// The hub drops one over --max-presence-bytes (64 KiB by default); an encrypted one's envelope
// adds 89 bytes, so the JSON itself stays under 60 KiB, like the page's own presence.
export const MAX_DIRECT_BYTES = 60 * 1024;

export type DirectMessage = Record<string, unknown>;

/** Who sent a direct message (a Yjs client id) and what it said (a JSON object, checked). */
export type DirectListener = (from: number, message: DirectMessage) => void;

/** A plaintext room's frame: `varUint 100 · varUint peer · varUint8Array payload`. */
export function encodeDirectFrame(peer: number, payload: Uint8Array): Uint8Array {
  if (!Number.isSafeInteger(peer) || peer < 0) throw new RangeError(`a peer is a Yjs client id, not ${peer}`);
  const e = encoding.createEncoder();
  encoding.writeVarUint(e, MESSAGE_DIRECT);
  encoding.writeVarUint(e, peer);
  encoding.writeVarUint8Array(e, payload);
  return encoding.toUint8Array(e);
}

/** The rest of a type-100 frame whose type the decoder has already read. Throws when it is cut short. */
export function readDirectFrame(decoder: decoding.Decoder): { peer: number; payload: Uint8Array } {
  const peer = decoding.readVarUint(decoder);
  const payload = decoding.readVarUint8Array(decoder);
  return { peer, payload };
}

/** A message's bytes (UTF-8 JSON); null when it is over MAX_DIRECT_BYTES or not JSON at all. */
export function encodeDirectPayload(message: DirectMessage): Uint8Array | null {
  let text: string;
  try {
    text = JSON.stringify(message);
  } catch {
    return null; // a cycle or a BigInt: nothing a peer could read
  }
  const raw = new TextEncoder().encode(text);
  return raw.length > MAX_DIRECT_BYTES ? null : raw;
}

/**
 * A peer's message from its bytes, read as defensively as its presence (presence/peer.ts): at most
 * 64 KiB, strict UTF-8, at most 32 levels deep, a JSON object; undefined when refused. What it
 * holds is data: whoever shows a field of it shows it as text.
 */
export function parseDirectPayload(raw: Uint8Array): DirectMessage | undefined {
  if (raw.length > 64 * 1024) return undefined;
  let value: unknown;
  try {
    const text = new TextDecoder("utf-8", { fatal: true }).decode(raw);
    if (nestingDepth(text) > MAX_DEPTH) return undefined;
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) return undefined;
  return value as DirectMessage;
}

/**
 * Encrypted rooms: each sender session (author id) seals its direct messages under their own
 * counter, so one whose counter is not above the last opened from that author is a replay (or a
 * stale one the hub reordered) and is dropped. Bounded: a room has few senders, a hostile hub
 * inventing authors only makes us forget the oldest.
 */
export class DirectReplay {
  private last = new Map<string, number>();

  constructor(private readonly maxAuthors = 4096) {}

  /** True (and remembered) when `counter` is above the last accepted from `authorId`. */
  accept(authorId: Uint8Array, counter: number): boolean {
    const author = toHex(authorId);
    const last = this.last.get(author) ?? 0;
    if (counter <= last) return false;
    this.last.delete(author);
    this.last.set(author, counter);
    if (this.last.size > this.maxAuthors) this.last.delete(this.last.keys().next().value!);
    return true;
  }
}
