// Awareness updates from peers, the one way a peer's state gets into the page (plaintext rooms
// through y-websocket's message handler, encrypted rooms once a presence envelope opens): each
// state is parsed on its own (presence/peer.ts); one that is refused removes that peer's state,
// as if it had left, and the rest of the update applies. y-protocols then does the bookkeeping.
import * as decoding from "lib0/decoding";
import * as encoding from "lib0/encoding";
import { applyAwarenessUpdate, type Awareness } from "y-protocols/awareness";
import { parsePeerState } from "./peer.js";

// One update names each client once; a hub sends everyone in a room in its first update.
export const MAX_ENTRIES = 4096;

export interface PresenceEntry {
  clientId: number;
  clock: number;
  /** null: the peer left, or its state was refused. */
  state: Record<string, unknown> | null;
}

/** The entries of an awareness update; throws only when the update's framing itself is broken. */
export function readPresenceUpdate(update: Uint8Array): PresenceEntry[] {
  const decoder = decoding.createDecoder(update);
  const count = decoding.readVarUint(decoder);
  const out: PresenceEntry[] = [];
  for (let i = 0; i < count; i++) {
    const clientId = decoding.readVarUint(decoder);
    const clock = decoding.readVarUint(decoder);
    const raw = decoding.readVarUint8Array(decoder);
    if (i >= MAX_ENTRIES) continue;
    out.push({ clientId, clock, state: parsePeerState(raw) ?? null });
  }
  return out;
}

export function applyPresence(awareness: Awareness, entries: readonly PresenceEntry[], origin: unknown): void {
  const encoder = encoding.createEncoder();
  encoding.writeVarUint(encoder, entries.length);
  for (const e of entries) {
    encoding.writeVarUint(encoder, e.clientId);
    encoding.writeVarUint(encoder, e.clock);
    encoding.writeVarString(encoder, JSON.stringify(e.state));
  }
  applyAwarenessUpdate(awareness, encoding.toUint8Array(encoder), origin);
}
