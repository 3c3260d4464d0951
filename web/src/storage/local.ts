// This browser's copy of a room, in IndexedDB: edits made offline survive closing the tab, and a
// reopened link shows the last known content before the hub answers (docs/e2ee.md "What the
// browser keeps"). Encrypted rooms are stored sealed with a key derived from the room secret, so a
// copied browser profile without the link reveals nothing; plaintext rooms are stored as they are.
//
// One record per open tab: [slot, server, room, tab]. A page merges every record of its room when it
// opens and, once its own merged record is written, deletes the ones it absorbed. Two tabs of one
// room therefore never overwrite each other's unsent edits.
import * as Y from "yjs";
import * as decoding from "lib0/decoding";
import * as encoding from "lib0/encoding";
import { createStore, delMany, entries, get, keys as storedKeys, set, type UseStore } from "idb-keyval";
import { randomBytes, toHex, utf8, type Bytes } from "../crypto/bytes.js";
import type { RoomKeys } from "../crypto/keys.js";
import { Listeners } from "../listeners.js";
import { LocalSeal } from "./local_seal.js";

const DB_NAME = "collab";
const STORE_NAME = "rooms";
const FORMAT = 1;
// Save at most this often while typing: each save writes the whole (compacted) document.
const SAVE_EVERY_MS = 250;
// A copy with nothing left to send is dropped once no page of its room has opened for this long.
export const EXPIRE_AFTER_MS = 30 * 24 * 60 * 60 * 1000;

/** w: a write link (may hold unsent edits), r: a read-only link, p: a plaintext room. */
type Slot = "w" | "r" | "p";
type RecordKey = [Slot, string, string, string];

interface StoredRecord {
  v: number;
  savedAt: number; // ms since the epoch
  unsent: boolean; // whether it holds edits the hub has not acknowledged (kept past expiry)
  blob: Uint8Array; // the payload; sealed with AES-GCM for encrypted rooms
}

export interface Restored {
  /** The whole document as one Yjs update, or null when this browser holds no copy. */
  state: Uint8Array | null;
  /** Local edits the hub never acknowledged, as one Yjs update (write links only). */
  unsent: Uint8Array | null;
}

/** What the local copy needs from the live session. */
export interface Source {
  readonly doc: Y.Doc;
  /** Edits the hub has not acknowledged, as one update; null when there are none or the protocol resends them itself. */
  localOnly(): Uint8Array | null;
  readonly pending: number;
  readonly synced: boolean;
  onChange(listener: () => void): void;
}

export class LocalCopy {
  /** True once the session's document and unsent edits, as they are now, are written to IndexedDB. */
  upToDate = false;
  private readonly tab = toHex(randomBytes(8));
  private absorbed: RecordKey[] = [];
  private source: Source | null = null;
  private carried = false; // restored edits whose delivery only the protocol knows about (plaintext rooms)
  private dirty = false;
  private writing = false;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private forgotten = false;
  private lastPending = 0;
  private interval = SAVE_EVERY_MS;
  private changed = new Listeners<[]>();

  private constructor(
    private readonly store: UseStore,
    private readonly slot: Slot,
    private readonly server: string,
    private readonly room: string,
    private readonly key: LocalSeal | null,
  ) {}

  /** Null when this browser has no IndexedDB (some private modes): the session then runs without a copy. */
  static async open(server: string, room: string, keys: RoomKeys | null): Promise<LocalCopy | null> {
    if (typeof indexedDB === "undefined") return null;
    const slot: Slot = !keys ? "p" : keys.canWrite ? "w" : "r";
    return new LocalCopy(createStore(DB_NAME, STORE_NAME), slot, server, room, keys ? await LocalSeal.of(keys) : null);
  }

  onChange(listener: () => void): void {
    this.changed.add(listener);
  }

  /** Everything this browser kept for the room, merged across the tabs that wrote it. */
  async load(): Promise<Restored> {
    const mine = (await storedKeys<IDBValidKey>(this.store)).filter((k): k is RecordKey => this.isMine(k));
    const found = await Promise.all(mine.map(async (k) => [k, await this.read(k)] as const));
    const merged = new Y.Doc({ gc: true });
    const unsent: Uint8Array[] = [];
    let any = false;
    for (const [k, payload] of found) {
      // Unreadable ones too: they can never be opened, so they go. All of them, and those opened under
      // the key write links used before (re-sealed by this save), are deleted only once our record is written.
      this.absorbed.push(k);
      if (!payload) continue;
      any = true;
      Y.applyUpdate(merged, payload.state);
      if (payload.unsent.length) unsent.push(payload.unsent);
    }
    this.carried = this.slot === "p" && found.some(([, p]) => p?.hadUnsent);
    return {
      state: any ? Y.encodeStateAsUpdate(merged) : null,
      // Only a write link's slot holds unsent edits; a read-only link never pushes anything.
      unsent: this.slot === "w" && unsent.length ? Y.mergeUpdates(unsent) : null,
    };
  }

  /** Keep the copy in step with the session from now on. */
  attach(source: Source): void {
    this.source = source;
    source.doc.on("update", () => this.schedule());
    source.onChange(() => {
      // Acknowledgements change what is unsent without changing the document.
      if (source.pending !== this.lastPending) this.schedule();
      if (this.carried && source.synced) {
        this.carried = false;
        this.schedule();
      }
    });
    this.schedule(0);
    void this.expireOthers();
  }

  /** Best effort when the page goes away: start the last write now rather than after the throttle. */
  saveNow(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
      void this.save();
    }
  }

  /** Delete this browser's copy of the room and keep none for the rest of this page's life. */
  async forget(): Promise<void> {
    this.forgotten = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const mine = (await storedKeys<IDBValidKey>(this.store)).filter((k) => this.isMine(k));
    await delMany(mine, this.store);
    this.upToDate = false;
    this.changed.emit();
  }

  private isMine(k: IDBValidKey): boolean {
    return Array.isArray(k) && k.length === 4 && k[0] === this.slot && k[1] === this.server && k[2] === this.room;
  }

  private schedule(delay = this.interval): void {
    if (this.forgotten) return;
    this.dirty = true;
    if (this.upToDate) {
      this.upToDate = false;
      this.changed.emit();
    }
    if (this.timer || this.writing) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.save();
    }, delay);
  }

  private async save(): Promise<void> {
    const source = this.source;
    if (!source || this.forgotten || this.writing || !this.dirty) return;
    this.dirty = false;
    this.writing = true;
    const started = performance.now();
    try {
      this.lastPending = source.pending;
      const unsent = source.localOnly() ?? new Uint8Array(0);
      const payload = encodePayload(Y.encodeStateAsUpdate(source.doc), unsent);
      const record: StoredRecord = {
        v: FORMAT,
        savedAt: Date.now(),
        unsent: unsent.length > 0 || source.pending > 0 || this.carried,
        blob: await this.seal(payload),
      };
      if (this.forgotten) return;
      await set(this.own(), record, this.store);
      if (this.absorbed.length) {
        // Our record now holds everything the absorbed ones did.
        const gone = this.absorbed;
        this.absorbed = [];
        await delMany(gone, this.store);
      }
    } catch (err) {
      console.warn(`collab: could not keep a copy of the room in this browser: ${(err as Error).message}`);
      this.dirty = true;
    } finally {
      this.writing = false;
      // A large document costs a full encode and encryption per save: never spend more than a fifth of the time on it.
      this.interval = Math.max(SAVE_EVERY_MS, 4 * (performance.now() - started));
    }
    if (this.dirty) this.schedule();
    else if (!this.forgotten) {
      this.upToDate = true;
      this.changed.emit();
    }
  }

  private own(): RecordKey {
    return [this.slot, this.server, this.room, this.tab];
  }

  /** Binds a sealed copy to its room and kind of link: it cannot be passed off as another room's. */
  private aad(): Bytes {
    return utf8(`collab local-store v${FORMAT}\n${this.slot}\n${this.server}\n${this.room}`);
  }

  private async seal(payload: Uint8Array): Promise<Uint8Array> {
    return this.key ? await this.key.seal(payload, this.aad()) : payload;
  }

  private async read(k: RecordKey): Promise<{ state: Uint8Array; unsent: Uint8Array; hadUnsent: boolean } | null> {
    try {
      const record = await get<StoredRecord>(k, this.store);
      if (!record || record.v !== FORMAT) return null;
      let payload = record.blob;
      if (this.key) {
        const opened = await this.key.open(payload, this.aad());
        if (opened.legacy) console.info("collab: opened a copy of the room sealed under the old key; it is re-sealed on the next save");
        payload = opened.payload;
      }
      return { ...decodePayload(payload), hadUnsent: record.unsent };
    } catch (err) {
      console.warn(`collab: ignored an unreadable copy of the room in this browser: ${(err as Error).message}`);
      return null;
    }
  }

  /** Copies of other rooms with nothing unsent, not opened for EXPIRE_AFTER_MS, go. */
  private async expireOthers(): Promise<void> {
    try {
      const now = Date.now();
      const stale = (await entries<IDBValidKey, StoredRecord>(this.store))
        .filter(([k, r]) => !this.isMine(k) && (!r || r.v !== FORMAT || (!r.unsent && now - r.savedAt > EXPIRE_AFTER_MS)))
        .map(([k]) => k);
      if (stale.length) await delMany(stale, this.store);
    } catch {
      // Tidying up can wait for the next page.
    }
  }
}

function encodePayload(state: Uint8Array, unsent: Uint8Array): Uint8Array {
  const enc = encoding.createEncoder();
  encoding.writeVarUint(enc, FORMAT);
  encoding.writeVarUint8Array(enc, state);
  encoding.writeVarUint8Array(enc, unsent);
  return encoding.toUint8Array(enc);
}

function decodePayload(payload: Uint8Array): { state: Uint8Array; unsent: Uint8Array } {
  const dec = decoding.createDecoder(payload);
  const format = decoding.readVarUint(dec);
  if (format !== FORMAT) throw new Error(`unknown format ${format}`);
  return { state: decoding.readVarUint8Array(dec), unsent: decoding.readVarUint8Array(dec) };
}
