// Plaintext rooms: the standard y-websocket protocol through y-websocket's own provider.
import * as Y from "yjs";
import { Awareness } from "y-protocols/awareness";
import * as decoding from "lib0/decoding";
import { messageAwareness, WebsocketProvider } from "y-websocket";
import { Listeners } from "../listeners.js";
import { applyPresence, readPresenceUpdate } from "../presence/update.js";
import { MESSAGE_DIRECT, encodeDirectFrame, encodeDirectPayload, parseDirectPayload, readDirectFrame, type DirectListener, type DirectMessage } from "../protocol/direct.js";
import { watchNetwork, type ConnState, type Transport } from "./types.js";

/** The hub's close code for a plaintext connection to an end-to-end encrypted room (docs/protocol.md). */
export const CLOSE_ENCRYPTED_ROOM = 4403;

export class PlaintextTransport implements Transport {
  readonly encrypted = false;
  readonly canWrite = true;
  readonly awareness: Awareness;
  state: ConnState = "connecting";
  pending = 0;
  synced = false;
  failure: string | null = null;
  /** Set when the hub refused the connection because the room is end-to-end encrypted: the link lost its key. */
  encryptedRoom = false;
  private provider: WebsocketProvider;
  private changed = new Listeners<[]>();
  private warnings = new Listeners<[string]>();
  private direct = new Set<DirectListener>();
  private unwatch: () => void;

  constructor(readonly doc: Y.Doc, wsBase: string, room: string) {
    this.awareness = new Awareness(doc);
    // Cross-tab BroadcastChannel is off: a tab must reach the hub to count as synced.
    this.provider = new WebsocketProvider(wsBase, room, doc, { awareness: this.awareness, disableBc: true });
    // Peers' presence goes through the one defensive reader (presence/update.ts), not straight
    // into the awareness; a broken update is dropped, the connection goes on. (Set before any
    // message can arrive: the socket opens asynchronously.)
    this.provider.messageHandlers[messageAwareness] = (_encoder, decoder, provider) => {
      try {
        applyPresence(this.awareness, readPresenceUpdate(decoding.readVarUint8Array(decoder)), provider);
      } catch (err) {
        console.warn(`collab: dropped a presence update: ${(err as Error).message}`);
      }
    };
    // Direct messages (type 100): the hub names the sender by its Yjs client id. One that does not
    // parse is dropped like a broken presence update.
    this.provider.messageHandlers[MESSAGE_DIRECT] = (_encoder, decoder) => {
      try {
        const { peer, payload } = readDirectFrame(decoder);
        const message = parseDirectPayload(payload);
        if (!message) throw new Error("not a JSON object within the limits");
        if (peer === this.awareness.clientID) throw new Error("it claims to be from us");
        for (const listener of [...this.direct]) listener(peer, message);
      } catch (err) {
        console.warn(`collab: dropped a direct message: ${(err as Error).message}`);
      }
    };
    this.provider.on("status", ({ status }) => {
      if (status === "connected") this.set("connecting");
      else if (status === "disconnected" && this.state !== "offline" && this.state !== "failed") this.set("reconnecting");
    });
    this.provider.on("sync", (isSynced: boolean) => {
      if (!isSynced) return;
      this.synced = true;
      // y-websocket has no acknowledgements: once synced, the hub has everything we sent.
      this.pending = 0;
      this.set("connected");
    });
    this.provider.on("closed", ({ code, reason }: { code: number; reason: string }) => {
      this.encryptedRoom = code === CLOSE_ENCRYPTED_ROOM;
      this.failure = reason || `the hub closed the connection (${code})`;
      this.set("failed");
    });
    doc.on("update", (_update: Uint8Array, origin: unknown) => {
      if (origin !== this.provider && this.state !== "connected") {
        this.pending++;
        this.changed.emit();
      }
    });
    this.unwatch = watchNetwork(
      () => {
        this.provider.disconnect();
        this.set("offline");
      },
      () => {
        this.set("reconnecting");
        this.provider.connect();
      },
    );
  }

  private set(state: ConnState): void {
    this.state = state;
    this.changed.emit();
  }

  localOnly(): Uint8Array | null {
    return null;
  }

  onChange(listener: () => void): void {
    this.changed.add(listener);
  }

  onWarning(listener: (message: string) => void): void {
    this.warnings.add(listener);
  }

  sendDirect(to: number, message: DirectMessage): boolean {
    const ws = this.provider.ws;
    const payload = encodeDirectPayload(message);
    if (!payload || !this.provider.wsconnected || !ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(encodeDirectFrame(to, payload));
    return true;
  }

  onDirect(listener: DirectListener): () => void {
    this.direct.add(listener);
    return () => this.direct.delete(listener);
  }

  destroy(): void {
    this.unwatch();
    this.provider.destroy();
  }
}
