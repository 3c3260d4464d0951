// Encrypted rooms: the relay protocol of docs/protocol.md. The hub sees envelopes only; every
// Yjs update is sealed here and every envelope from the hub is verified and replay-checked.
import * as Y from "yjs";
import { Awareness, encodeAwarenessUpdate, removeAwarenessStates } from "y-protocols/awareness";
import { signChallenge, signReaderChallenge } from "../crypto/auth.js";
import { b64urlEncode } from "../crypto/b64url.js";
import { equal, type Bytes } from "../crypto/bytes.js";
import { EnvelopeType, ReplayedEnvelope, newAuthorId, openEnvelope, sealAwareness, sealSnapshot, sealUpdate } from "../crypto/envelope.js";
import { Keyring, Removed, openRotation, parseRotation } from "../crypto/epochs.js";
import { RoomKeys } from "../crypto/keys.js";
import { DeviceKey, enroll, prepareRotation, registerRotator, rememberRotatedLink, roster } from "./rotation.js";
import { ReplayGuard } from "../crypto/replay.js";
import * as relay from "../protocol/relay.js";
import { encodeSnapshot } from "../protocol/snapshot.js";
import { Listeners } from "../listeners.js";
import { applyPresence, readPresenceUpdate } from "../presence/update.js";
import { DirectReplay, encodeDirectPayload, parseDirectPayload, type DirectListener, type DirectMessage } from "../protocol/direct.js";
import { RoomLog } from "./roomlog.js";
import { PART_FRAME_LIMIT, snapshotParts } from "./snapshot_parts.js";
import { watchNetwork, type ConnState, type Transport } from "./types.js";

export interface EncryptedOptions {
  /** POST endpoint that registers the room (used when the hub answers 4404 to a writer). */
  roomsApi: string;
  /** Seal a snapshot after this many entries past the last one (DESIGN: default 500). */
  compactAfter?: number;
  /**
   * Edits a previous page made with this link that the hub never acknowledged (kept in this
   * browser, web/src/storage/local.ts). They are sealed and published once synced, like fresh ones.
   */
  unsent?: Uint8Array | null;
  /** Ask the hub again for entries still missing this long after a sync (ms; default 2000). */
  gapWait?: number;
}

// Keep one envelope well under the hub's default 8 MiB frame limit.
const MAX_UPDATE_BYTES = 4 * 1024 * 1024;
// A snapshot's SNAPSHOT frame over PART_FRAME_LIMIT goes as SNAPSHOT_PART frames instead; the hub
// refuses one over its --max-snapshot-bytes (256 MiB by default).
const MAX_SNAPSHOT_BYTES = 256 * 1024 * 1024;
const MAX_AWARENESS_BYTES = 60 * 1024;

interface Outgoing {
  ref: number;
  frames: Bytes[]; // resent byte-for-byte after a reconnect (docs/e2ee.md: never skip a seq); a snapshot's may be parts
  update: Uint8Array | null; // the Yjs update it carries (null for a snapshot), kept until acknowledged
  authorSeq: number;
  edits: number; // local Yjs updates merged into it, for the pending count
  snapshot: boolean;
  sentOn: WebSocket | null; // the connection it last went out on: sent at most once on each
}

/** The hub took someone's edit first at the head a rotation named: try again. */
class RotationConflict extends Error {}

export class EncryptedTransport implements Transport {
  readonly encrypted = true;
  readonly awareness: Awareness;
  state: ConnState = "connecting";
  synced = false;
  failure: string | null = null;
  canWrite: boolean;

  private ws: WebSocket | null = null;
  private readonly authorId = newAuthorId();
  private updateSeq = 0;
  private snapshotSeq = 0;
  private awarenessSeq = 0;
  // Direct messages are sealed from a session of their own (as collab/client/sealed_presence.py
  // does): the hub paces them apart from presence, so the two arrive in either order.
  private readonly directAuthorId = newAuthorId();
  private directSeq = 0;
  private readonly directReplay = new DirectReplay();
  private readonly direct = new Set<DirectListener>();
  private directSending: Promise<void> = Promise.resolve();
  private nextRef = 1;
  private readonly guard = new ReplayGuard();
  private unsealed: Uint8Array[] = [];
  private outbox: Outgoing[] = [];
  private readonly log: RoomLog; // which entries the document holds, which are held or missing
  readonly keyring: Keyring; // this epoch's keys and every earlier one's (docs/e2ee.md "Rotation")
  private readonly device = new DeviceKey(); // this browser profile's X25519 key: rotations seal to it
  private rotating: { ref: number; keys: RoomKeys; envelope: Bytes; removed: string[]; done: (keys: RoomKeys | Error) => void } | null = null;
  private rotated = new Listeners<[RoomKeys]>();
  readonly forks: string[] = []; // where another member's log (or a snapshot's) differed from ours
  private forkSeen = new Set<string>();
  private ahead = new Map<number, { seq: number; since: number }>();
  private gossipTimer: ReturnType<typeof setInterval> | null = null;
  private sinceSnapshot = 0;
  private saidBlocked = false;
  private snapshotInFlight = false;
  private ready = false;
  private live = false; // this connection has synced: the old queue has gone out again, new edits may follow
  private registered = false;
  private attempts = 0;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private destroyed = false;
  private offline = false;
  private peers = new Map<bigint, Set<number>>(); // conn id -> awareness client ids heard from it
  private inbox: Promise<void> = Promise.resolve();
  private sending: Promise<void> = Promise.resolve();
  private readonly compactAfter: number;
  private changed = new Listeners<[]>();
  private warnings = new Listeners<[string]>();
  private unwatch: () => void;

  constructor(
    readonly doc: Y.Doc,
    keys: RoomKeys,
    private readonly url: string,
    private readonly options: EncryptedOptions,
  ) {
    this.awareness = new Awareness(doc);
    this.keyring = new Keyring(keys);
    registerRotator(this.awareness, this);
    this.canWrite = keys.canWrite;
    this.compactAfter = options.compactAfter ?? 500;
    this.log = new RoomLog(
      this.keyring,
      this.guard,
      {
        apply: (update) => Y.applyUpdate(this.doc, update, this),
        warn: (message) => this.warn(message),
        updated: (count) => {
          this.sinceSnapshot += count;
          this.maybeCompact();
        },
        snapshotApplied: () => {
          this.sinceSnapshot = 0;
        },
        askAgain: (reason) => {
          this.warn(reason);
          this.ws?.close(1000, "asking the hub again for missing entries");
        },
        fork: (message) => this.fork(message),
      },
      options.gapWait ?? 2000,
    );
    // A read-only link never pushes, whatever was kept.
    if (options.unsent?.length && this.canWrite) this.unsealed.push(options.unsent);
    doc.on("update", (update: Uint8Array, origin: unknown) => {
      if (origin === this) return;
      this.unsealed.push(update);
      this.changed.emit();
      this.flush();
    });
    this.awareness.on("update", (_change: unknown, origin: unknown) => {
      if (origin !== "local") return;
      this.sendAwareness();
      this.enroll(); // a name set or changed: listed under it at once
    });
    this.unwatch = watchNetwork(
      () => {
        this.offline = true;
        this.ws?.close(1000, "browser went offline");
        this.set("offline");
      },
      () => {
        this.offline = false;
        this.connectSoon(0);
      },
    );
    this.gossipTimer = setInterval(() => this.gossip(), 1000);
    void this.device.publicKey(); // loaded before the first sync, so this device is listed at once
    this.connect();
  }

  /** The room's keys as of now: the current epoch's. */
  get keys(): RoomKeys {
    return this.keyring.current;
  }

  /** The short code of the log this page holds (seq:hash), for people to compare out of band. */
  get logCode(): string {
    return this.log.hash.code;
  }

  /** The names the room's roster lists (a rotation keeps their devices). */
  rosterNames(): string[] {
    return [...new Set(roster(this.doc).map((d) => d.name))];
  }

  /** The room moved to new keys (a rotation: ours, or another member's that kept this device). */
  onRotated(listener: (keys: RoomKeys) => void): void {
    this.rotated.add(listener);
  }

  get pending(): number {
    return this.unsealed.length + this.outbox.reduce((n, o) => n + o.edits, 0);
  }

  localOnly(): Uint8Array | null {
    if (!this.keys.canWrite) return null;
    const parts = [...this.outbox.flatMap((o) => (o.update ? [o.update] : [])), ...this.unsealed];
    return parts.length ? Y.mergeUpdates(parts) : null;
  }

  onChange(listener: () => void): void {
    this.changed.add(listener);
  }

  onWarning(listener: (message: string) => void): void {
    this.warnings.add(listener);
  }

  destroy(): void {
    this.destroyed = true;
    if (this.gossipTimer) clearInterval(this.gossipTimer);
    this.unwatch();
    this.log.disconnected();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.awareness.setLocalState(null);
    this.ws?.close(1000, "leaving");
    this.awareness.destroy();
  }

  private set(state: ConnState): void {
    this.state = state;
    this.changed.emit();
  }

  private warn(message: string): void {
    console.warn(`collab: ${message}`);
    this.warnings.emit(message);
  }

  // --- connection lifecycle -----------------------------------------------------------------

  private connect(): void {
    if (this.destroyed || this.offline) return;
    const ws = new WebSocket(this.url, [relay.SUBPROTOCOL]);
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    ws.onmessage = (event) => {
      const data = event.data as ArrayBuffer;
      // Frames are handled strictly in order: opening envelopes is asynchronous (WebCrypto).
      this.inbox = this.inbox.then(() => this.receive(ws, data)).catch((err) => this.warn(String(err)));
    };
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.ready = false;
      this.live = false;
      this.log.disconnected();
      this.dropPeers();
      this.onClosed(event.code, event.reason);
    };
  }

  private onClosed(code: number, reason: string): void {
    if (this.destroyed) return;
    if (this.state === "failed") return; // removed from the session: nothing to come back to
    if (code === 4404 && this.keys.canWrite && !this.registered) {
      // A writer holds everything needed to (re-)register the room: do it and try again.
      this.registered = true;
      void this.register().then(() => this.connectSoon(0));
      return;
    }
    if (code === 4401 || code === 4403 || code === 4404) {
      this.failure =
        code === 4401
          ? "the hub refused this link's keys for the room (4401)"
          : code === 4404
            ? "the hub does not know this room (4404): it may have been deleted, or the link is for another server"
            : `the hub refused the connection (4403): ${reason}`;
      this.set("failed");
      return;
    }
    if (this.offline) {
      this.set("offline");
      return;
    }
    this.set("reconnecting");
    this.connectSoon(Math.min(200 * 2 ** this.attempts++, 5000) * (0.5 + Math.random()));
  }

  private connectSoon(delay: number): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (!this.ws) this.connect();
    }, delay);
  }

  private async register(): Promise<void> {
    try {
      await fetch(this.options.roomsApi, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          kind: "encrypted",
          room: this.keys.roomId,
          write_key: b64urlEncode(this.keys.writePublicKey),
          read_key: b64urlEncode(this.keys.readerPublicKey),
        }),
      });
    } catch {
      // The reconnect reports what is wrong.
    }
  }

  private send(frame: Uint8Array): boolean {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN || !this.ready) return false;
    this.ws.send(frame);
    return true;
  }

  // --- receiving --------------------------------------------------------------------------

  private async receive(ws: WebSocket, data: ArrayBuffer): Promise<void> {
    if (ws !== this.ws) return;
    let frame: relay.HubFrame;
    try {
      frame = relay.parseHubFrame(data);
    } catch (err) {
      this.warn(`ignored a frame from the hub: ${(err as Error).message}`);
      return;
    }
    switch (frame.type) {
      case relay.Frame.CHALLENGE: {
        const role = this.keys.canWrite ? relay.Role.WRITER : relay.Role.READER;
        // Readers sign too: the hub admits no stranger who knows only the room id (docs/e2ee.md).
        const sign = this.keys.canWrite ? signChallenge : signReaderChallenge;
        const signature = await sign(this.keys, frame.challenge);
        ws.send(relay.hello(role, this.log.since, signature));
        break;
      }
      case relay.Frame.READY:
        this.ready = true;
        this.canWrite = frame.role === relay.Role.WRITER;
        break;
      case relay.Frame.ENTRY:
        await this.log.entry(frame.seq, frame.envelope);
        break;
      case relay.Frame.SYNCED:
        this.log.synced(frame.head);
        this.synced = true;
        this.live = true;
        this.attempts = 0;
        // The old queue goes first, then what was edited meanwhile, and only then the page hears
        // "connected": a listener that edits (the schema migration) must not get ahead of the
        // queue, nor have its update sent twice (once by flush, again by resend), which stored it
        // under two seqs, the second never acknowledged to us: a false "entries missing".
        this.resend();
        this.flush();
        this.enroll();
        this.set("connected");
        this.announce();
        break;
      case relay.Frame.ACK:
        this.acked(frame.clientRef, frame.seq);
        break;
      case relay.Frame.NACK:
        this.nacked(frame.clientRef, frame.code, frame.reason);
        break;
      case relay.Frame.AWARENESS:
        await this.applyAwareness(frame.connId, frame.envelope);
        break;
      case relay.Frame.DIRECT_RELAY:
        await this.applyDirect(frame.connId, frame.envelope);
        break;
      case relay.Frame.LEFT:
        this.dropPeer(frame.connId);
        break;
      case relay.Frame.ROTATED:
        await this.onRotation(ws, frame.envelope);
        break;
    }
  }

  // --- key epochs (docs/e2ee.md "Rotation") -------------------------------------------------

  /** The room's rotation: a later epoch (move to it, or learn we were removed), or the current
   * epoch's own (a joiner of a rotated link learns the earlier epochs' keys from it). */
  private async onRotation(ws: WebSocket, envelope: Bytes): Promise<void> {
    const pending = this.rotating;
    if (pending && equal(envelope, pending.envelope)) {
      await this.adopt();
      ws.close(1000, "the room's keys were rotated");
      return;
    }
    let opened;
    try {
      opened = await openRotation(envelope, this.keys, await this.device.key());
    } catch (err) {
      if (err instanceof Removed) {
        this.failure = `you were removed from this session (${err.message}): ask for a new link`;
        this.set("failed");
        ws.close(1000, "removed");
        return;
      }
      this.warn(`ignored a key rotation from the hub: ${(err as Error).message}`);
      return;
    }
    if (opened.logHash) this.log.checkHash(opened.ref, opened.logHash, "the rotation");
    if (opened.keys.epoch === this.keys.epoch) {
      this.keyring.learn(opened.chain, opened.starts);
      return;
    }
    await this.advance(opened.keys, opened.chain, opened.starts);
    ws.close(1000, "the room's keys were rotated: reconnecting with the new ones");
  }

  private async advance(keys: RoomKeys, chain: Map<number, RoomKeys>, starts: Map<number, number>): Promise<void> {
    await this.keyring.advance(keys, chain, starts);
    this.canWrite = keys.canWrite;
    // What waits for the hub was sealed under the old epoch, which the hub now refuses: seal it again.
    this.outbox = this.outbox.filter((o) => !o.snapshot);
    this.snapshotInFlight = false;
    for (const out of this.outbox) {
      if (!out.update) continue;
      out.frames = [relay.publish(out.ref, await sealUpdate(keys, this.authorId, out.authorSeq, out.update))];
      out.sentOn = null;
    }
    rememberRotatedLink(keys);
    this.warn(`the room's keys were rotated (key epoch ${keys.epoch}); this page has the new ones`);
    this.rotated.emit(keys);
    this.changed.emit();
  }

  private async adopt(): Promise<void> {
    const pending = this.rotating;
    this.rotating = null;
    if (!pending || this.keys.epoch >= pending.keys.epoch) return;
    const rot = parseRotation(pending.envelope);
    await this.advance(pending.keys, new Map(this.keyring.past), new Map([...this.keyring.starts, [rot.epoch, rot.ref]]));
    const roster = this.doc.getMap("roster");
    this.doc.transact(() => {
      for (const [key, value] of roster.entries()) {
        const name = (value as { name?: unknown } | null)?.name;
        if (typeof name === "string" && pending.removed.includes(name)) roster.delete(key);
      }
    });
    pending.done(pending.keys);
  }

  /** Move the room to its next key epoch, keeping every roster device except those of `remove`;
   * tried again (up to 5 times) when someone's edit reached the hub first. */
  async rotate(remove: string[]): Promise<RoomKeys> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.rotateOnce(remove);
      } catch (err) {
        if (attempt >= 5 || !(err instanceof RotationConflict)) throw err;
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
    }
  }

  private async rotateOnce(remove: string[]): Promise<RoomKeys> {
    if (!this.keys.canWrite) throw new Error("only a write link can remove someone");
    if (!this.live || this.rotating) throw new Error("not connected to the hub right now");
    const blocked = this.log.blocked();
    if (blocked) throw new Error(`cannot rotate while ${blocked}`);
    if (this.outbox.length || this.unsealed.length) throw new Error("edits are still on their way to the hub: try again in a moment");
    const prepared = await prepareRotation(this.doc, this.keyring, remove, await this.device.publicKey(), this.log.since, this.log.hash.at(this.log.since));
    const ref = this.nextRef++;
    return new Promise<RoomKeys>((resolve, reject) => {
      this.rotating = {
        ref, keys: prepared.keys, envelope: prepared.envelope, removed: remove,
        done: (result) => (result instanceof Error ? reject(result) : resolve(result)),
      };
      if (!this.send(relay.rotate(ref, prepared.envelope))) {
        this.rotating = null;
        reject(new Error("not connected to the hub right now"));
      }
    });
  }

  // --- fork detection (docs/e2ee.md "Fork detection") ---------------------------------------

  private fork(message: string): void {
    this.forks.push(message);
    if (this.forks.length > 100) this.forks.shift();
    this.warn(message);
  }

  /** Once a second: our (epoch, seq, hash) into presence, the peers' compared with ours; and this
   * device listed in the roster, so a rotation keeps it. */
  private gossip(): void {
    if (!this.live) return;
    const state = this.awareness.getLocalState();
    this.enroll();
    if (state && this.log.hash.anchored) {
      const mine = { e: this.keys.epoch, s: this.log.hash.seq, h: [...this.log.hash.digest.subarray(0, 16)].map((b) => b.toString(16).padStart(2, "0")).join("") };
      const now = state.log as typeof mine | undefined;
      if (!now || now.e !== mine.e || now.s !== mine.s || now.h !== mine.h) this.awareness.setLocalStateField("log", mine);
    }
    for (const [clientId, peer] of this.awareness.getStates()) {
      if (clientId === this.doc.clientID) continue;
      const g = (peer as { log?: { e?: unknown; s?: unknown; h?: unknown } }).log;
      if (!g || g.e !== this.keys.epoch || typeof g.s !== "number" || typeof g.h !== "string" || !/^[0-9a-f]{2,64}$/.test(g.h)) continue;
      if (g.s > this.log.hash.seq) {
        this.peerAhead(clientId, g.s);
        continue;
      }
      const key = `${clientId}:${g.s}`;
      if (this.forkSeen.has(key) || !this.log.hash.at(g.s)) continue;
      if (this.forkSeen.size > 10_000) this.forkSeen.clear();
      this.forkSeen.add(key);
      this.log.checkHash(g.s, Uint8Array.from(g.h.match(/../g)!.map((x) => parseInt(x, 16))), `participant ${clientId}`);
    }
  }

  /** List this device in the roster under our name, so a rotation keeps it (writers only). */
  private enroll(): void {
    const name = (this.awareness.getLocalState() as { user?: { name?: unknown } } | null)?.user?.name;
    if (!this.live || !this.keys.canWrite || typeof name !== "string") return;
    const pub = this.device.known;
    if (pub) enroll(this.doc, pub, name);
    else void this.device.publicKey().then((loaded) => loaded && this.enroll());
  }

  private peerAhead(clientId: number, seq: number): void {
    const now = Date.now();
    const seen = this.ahead.get(clientId) ?? { seq, since: now };
    if (!this.ahead.has(clientId)) this.ahead.set(clientId, seen);
    if (this.log.hash.seq >= seen.seq) {
      this.ahead.set(clientId, { seq, since: now });
      return;
    }
    if (now - seen.since < 3000 || this.log.missing()) return;
    this.ahead.set(clientId, { seq: seen.seq, since: Infinity });
    this.fork(`participant ${clientId} has seen the room's log up to seq ${seen.seq}, but the hub says this page has everything at seq ${this.log.hash.seq}: the hub may be withholding entries (or serving an old snapshot)`);
  }

  private async applyAwareness(connId: bigint, data: Uint8Array): Promise<void> {
    try {
      const opened = await openEnvelope(this.keys, data);
      if (opened.type !== EnvelopeType.AWARENESS) throw new Error("presence must come in an awareness envelope");
      this.guard.check(opened);
      const known = this.peers.get(connId);
      const ids = known ?? new Set<number>();
      const entries = readPresenceUpdate(opened.plaintext);
      if (entries.some((e) => e.clientId === this.doc.clientID)) throw new Error("presence that claims to be ours");
      for (const e of entries) ids.add(e.clientId);
      this.peers.set(connId, ids);
      applyPresence(this.awareness, entries, this);
      // A newcomer has not heard us yet: there is no "query awareness" in this protocol.
      if (!known) this.announce();
    } catch (err) {
      if (!(err instanceof ReplayedEnvelope)) this.warn(`dropped presence: ${(err as Error).message}`);
    }
  }

  /**
   * A direct message from connection `connId`: its sender is the first client id that connection's
   * presence spoke for (none yet: dropped, as the hub drops one from a connection without presence
   * in a plaintext room); a counter not above the last opened from that author is dropped.
   */
  private async applyDirect(connId: bigint, data: Uint8Array): Promise<void> {
    const from = this.peers.get(connId)?.values().next().value;
    if (from === undefined) return;
    try {
      const opened = await openEnvelope(this.keys, data);
      if (opened.type !== EnvelopeType.AWARENESS) throw new Error("a direct message must come in an awareness envelope");
      if (!this.directReplay.accept(opened.authorId, opened.authorSeq)) return; // replayed or stale
      const message = parseDirectPayload(opened.plaintext);
      if (!message) throw new Error("not a JSON object within the limits");
      for (const listener of [...this.direct]) listener(from, message);
    } catch (err) {
      this.warn(`dropped a direct message: ${(err as Error).message}`);
    }
  }

  sendDirect(to: number, message: DirectMessage): boolean {
    let connId: bigint | undefined;
    for (const [id, clients] of this.peers) if (clients.has(to)) connId = id;
    const payload = encodeDirectPayload(message);
    if (connId === undefined || !payload || !this.ready || !this.ws) return false;
    const ws = this.ws;
    const counter = ++this.directSeq;
    const keys = this.keys;
    // Sealed in order, so counters go out rising; on its own chain, so a large snapshot being
    // sealed does not hold it up.
    this.directSending = this.directSending.then(async () => {
      const envelope = await sealAwareness(keys, this.directAuthorId, counter, payload);
      if (ws === this.ws) this.send(relay.direct(connId, envelope));
    }).catch((err) => this.warn(`a direct message was not sent: ${(err as Error).message}`));
    return true;
  }

  onDirect(listener: DirectListener): () => void {
    this.direct.add(listener);
    return () => this.direct.delete(listener);
  }

  private dropPeer(connId: bigint): void {
    const ids = this.peers.get(connId);
    this.peers.delete(connId);
    if (!ids?.size) return;
    removeAwarenessStates(this.awareness, [...ids], this);
    // y-protocols keeps a removed peer's clock and ignores a state that does not exceed it; the
    // peer (or the hub replaying its last presence) may announce the same state again once back.
    for (const id of ids) this.awareness.meta.delete(id);
  }

  private dropPeers(): void {
    for (const connId of [...this.peers.keys()]) this.dropPeer(connId);
  }

  // --- sending ----------------------------------------------------------------------------

  /** Seal what was edited locally and publish it, in order. */
  private flush(): void {
    this.sending = this.sending.then(async () => {
      if (!this.live || !this.canWrite || this.unsealed.length === 0) return;
      const edits = this.unsealed.length;
      const update = Y.mergeUpdates(this.unsealed);
      this.unsealed = [];
      if (update.length > MAX_UPDATE_BYTES) {
        this.warn(`an edit of ${update.length} bytes is too large to send (limit ${MAX_UPDATE_BYTES}); split it up`);
        return;
      }
      const authorSeq = ++this.updateSeq;
      const ref = this.nextRef++;
      const envelope = await sealUpdate(this.keys, this.authorId, authorSeq, update);
      const out: Outgoing = { ref, frames: [relay.publish(ref, envelope)], update, authorSeq, edits, snapshot: false, sentOn: null };
      this.outbox.push(out);
      this.sendOut(out);
      this.changed.emit();
    });
  }

  /** After a reconnect: everything not acknowledged goes again, byte-for-byte, in order. */
  private resend(): void {
    this.sending = this.sending.then(() => {
      this.outbox = this.outbox.filter((o) => !o.snapshot);
      this.snapshotInFlight = false;
      for (const out of this.outbox) this.sendOut(out);
    });
  }

  /** Send a queued frame unless it already went out on this connection (the hub would store it twice). */
  private sendOut(out: Outgoing): boolean {
    if (out.sentOn !== null && out.sentOn === this.ws) return true;
    if (!out.frames.every((frame) => this.send(frame))) return false;
    out.sentOn = this.ws;
    return true;
  }

  private acked(ref: number, seq: number): void {
    if (this.rotating?.ref === ref) {
      const ws = this.ws;
      void this.adopt().then(() => ws?.close(1000, "the room's keys were rotated"));
      return;
    }
    const index = this.outbox.findIndex((o) => o.ref === ref);
    if (index < 0) return;
    const [out] = this.outbox.splice(index, 1);
    if (out!.snapshot) {
      this.snapshotInFlight = false;
      this.sinceSnapshot = 0;
    } else {
      // Our own update is part of the room now: record it, so a snapshot carries our head and
      // our own entry coming back in a later history replay is dropped as a replay.
      try {
        this.guard.check({ type: EnvelopeType.UPDATE, authorId: this.authorId, authorSeq: out!.authorSeq }, true);
      } catch {
        // Already seen in a replay before the ack arrived.
      }
      this.sinceSnapshot++;
    }
    this.log.acked(seq, out!.snapshot ? undefined : out!.frames[0]!.subarray(9)); // PUBLISH: type, ref, envelope
    this.changed.emit();
    this.maybeCompact();
  }

  private nacked(ref: number, code: number, reason: string): void {
    if (this.rotating?.ref === ref) {
      const pending = this.rotating;
      this.rotating = null;
      pending.done(code === relay.Nack.SNAPSHOT_CONFLICT ? new RotationConflict(reason) : new Error(`the hub refused the rotation (${code}: ${reason})`));
      return;
    }
    const out = this.outbox.find((o) => o.ref === ref);
    if (!out) return;
    if (code === relay.Nack.STORE_UNAVAILABLE) {
      // Nothing is lost: reconnect later and resend everything still queued, in order.
      this.warn(`the hub could not store an edit (${reason}); retrying`);
      this.ws?.close(1000, "retry after store failure");
      return;
    }
    this.outbox = this.outbox.filter((o) => o !== out);
    if (out.snapshot) {
      this.snapshotInFlight = false;
      if (code === relay.Nack.SNAPSHOT_CONFLICT) this.sinceSnapshot = Math.floor(this.compactAfter / 2);
      return;
    }
    if (code === relay.Nack.FORBIDDEN) {
      this.canWrite = false;
      this.warn("the hub treats this link as read-only: your edits are not shared");
    } else {
      this.warn(`the hub rejected an edit (${code}: ${reason})`);
    }
    this.changed.emit();
  }

  private maybeCompact(): void {
    if (!this.canWrite || !this.live || this.snapshotInFlight || this.sinceSnapshot < this.compactAfter) return;
    if (this.outbox.length || this.unsealed.length) return;
    // The hub deletes what a snapshot covers: never over an entry missing or rejected (issue 21).
    const blocked = this.log.blocked();
    if (blocked) {
      if (!this.saidBlocked) this.warn(`no snapshot while ${blocked}; the hub keeps the whole log meanwhile`);
      this.saidBlocked = true;
      return;
    }
    this.saidBlocked = false;
    this.snapshotInFlight = true;
    this.sending = this.sending.then(async () => {
      if (this.log.blocked()) {
        this.snapshotInFlight = false; // something went missing meanwhile
        return;
      }
      const plaintext = encodeSnapshot({ heads: this.guard.export(), state: Y.encodeStateAsUpdate(this.doc) }, this.log.hash.at(this.log.since));
      if (plaintext.length + 1024 > MAX_SNAPSHOT_BYTES) { // the envelope adds 153 bytes
        this.snapshotInFlight = false;
        return;
      }
      const ref = this.nextRef++;
      const envelope = await sealSnapshot(this.keys, this.authorId, ++this.snapshotSeq, this.log.since, plaintext);
      const whole = relay.snapshot(ref, envelope);
      const frames = whole.length > PART_FRAME_LIMIT ? snapshotParts(ref, envelope) : [whole];
      const out: Outgoing = { ref, frames, update: null, authorSeq: this.snapshotSeq, edits: 0, snapshot: true, sentOn: null };
      this.outbox.push(out);
      if (!this.sendOut(out)) {
        this.outbox = this.outbox.filter((o) => o !== out);
        this.snapshotInFlight = false;
      }
    });
  }

  /**
   * Our presence again, under a higher clock: a peer that saw this connection's predecessor leave
   * (LEFT) ignores a state whose clock it has already seen. setLocalState bumps the clock, and its
   * "local" update event sends it.
   */
  private announce(): void {
    const state = this.awareness.getLocalState();
    if (state !== null) this.awareness.setLocalState(state);
  }

  private sendAwareness(): void {
    if (!this.ready) return;
    const update = encodeAwarenessUpdate(this.awareness, [this.doc.clientID]);
    if (update.length > MAX_AWARENESS_BYTES) return;
    const counter = ++this.awarenessSeq;
    this.sending = this.sending.then(async () => {
      const envelope = await sealAwareness(this.keys, this.authorId, counter, update);
      this.send(relay.awareness(envelope));
    });
  }
}
