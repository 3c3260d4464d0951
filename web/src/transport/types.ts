// What the session page needs from a room connection, whichever protocol carries it.
import type * as Y from "yjs";
import type { Awareness } from "y-protocols/awareness";
import type { DirectListener, DirectMessage } from "../protocol/direct.js";

export type ConnState = "connecting" | "connected" | "reconnecting" | "offline" | "failed";

/** Direct messages (docs/protocol.md, "Direct messages"): to and from one participant, by Yjs client id. */
export interface DirectMessages {
  /**
   * Send `message` to the participant `to` alone; false when it cannot go now (not connected, no
   * such participant, over the size limit). Ephemeral state: nothing queues it for later.
   */
  sendDirect(to: number, message: DirectMessage): boolean;
  /** Hear each direct message addressed to us (parsed and checked); returns what stops listening. */
  onDirect(listener: DirectListener): () => void;
}

export interface Transport extends DirectMessages {
  readonly doc: Y.Doc;
  readonly awareness: Awareness;
  readonly encrypted: boolean;
  /** False for read-only links (and when the hub refuses writes). */
  readonly canWrite: boolean;
  readonly state: ConnState;
  /** Local edits the hub has not acknowledged yet (plaintext rooms: edits made while offline). */
  readonly pending: number;
  /** Set once the first history replay is complete. */
  readonly synced: boolean;
  /** A reason when state is "failed" (room missing, refused): retrying will not help. */
  readonly failure: string | null;
  /**
   * Local edits the hub has not acknowledged, merged into one Yjs update, for the copy kept in this
   * browser (web/src/storage/local.ts); null when there are none, or when the protocol finds them
   * itself on reconnect (plaintext rooms: y-websocket's sync step 2 carries whatever the hub lacks).
   */
  localOnly(): Uint8Array | null;
  onChange(listener: () => void): void;
  /** Problems worth telling the user that do not stop the session (tampered envelope, …). */
  onWarning(listener: (message: string) => void): void;
  destroy(): void;
}

/** Browsers report losing the network; we stop retrying until it is back instead of spinning. */
export function watchNetwork(onOffline: () => void, onOnline: () => void): () => void {
  window.addEventListener("offline", onOffline);
  window.addEventListener("online", onOnline);
  return () => {
    window.removeEventListener("offline", onOffline);
    window.removeEventListener("online", onOnline);
  };
}
