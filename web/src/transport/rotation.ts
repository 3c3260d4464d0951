// What the page needs around key rotation (docs/e2ee.md "Rotation"): this browser profile's device
// key, the room's roster (collab/client/roster.py: roster[b64url(X25519 public key)] = {name, role}),
// making a rotation, and remembering the new link for this tab after one.
import type * as Y from "yjs";
import type { Awareness } from "y-protocols/awareness";
import { b64urlDecode, b64urlEncode } from "../crypto/b64url.js";
import { randomBytes, type Bytes } from "../crypto/bytes.js";
import { newAuthorId } from "../crypto/envelope.js";
import { boxPlaintext, sealBox, sealRotation, type Keyring } from "../crypto/epochs.js";
import { RoomKeys, generateWriteSecret } from "../crypto/keys.js";
import { importX25519Private, x25519PublicOf } from "../crypto/seal.js";

const DEVICE_STORE = "collab.device-key.v1";
export const ROSTER = "roster";

/** This browser profile's X25519 key (in localStorage, like the agent pins; in memory where there is
 * none): a rotation seals the room's next keys to it, so the page stays in without a new link. */
export class DeviceKey {
  private loaded: Promise<{ key: CryptoKey; public: Bytes } | null> | null = null;
  known: Bytes | null = null; // the public key, once loaded

  key(): Promise<CryptoKey | null> {
    return this.load().then((d) => d?.key ?? null);
  }

  publicKey(): Promise<Bytes | null> {
    return this.load().then((d) => d?.public ?? null);
  }

  private load(): Promise<{ key: CryptoKey; public: Bytes } | null> {
    this.loaded ??= (async () => {
      try {
        let raw: Bytes | null = null;
        let store: Storage | null = null;
        try {
          store = globalThis.localStorage ?? null;
          const kept = store?.getItem(DEVICE_STORE);
          if (kept) raw = b64urlDecode(kept);
        } catch {
          store = null;
        }
        if (!raw || raw.length !== 32) {
          raw = randomBytes(32);
          store?.setItem(DEVICE_STORE, b64urlEncode(raw));
        }
        const key = await importX25519Private(raw);
        this.known = await x25519PublicOf(key);
        return { key, public: this.known };
      } catch {
        return null; // no X25519 in this browser: rotations need a new link here
      }
    })();
    return this.loaded;
  }
}

export interface RosterDevice {
  key: Bytes;
  name: string;
  role: "writer" | "reader";
}

export function roster(doc: Y.Doc): RosterDevice[] {
  const out: RosterDevice[] = [];
  for (const [key, value] of doc.getMap(ROSTER).entries()) {
    let raw: Bytes;
    try {
      raw = b64urlDecode(key);
    } catch {
      continue;
    }
    const v = value as { name?: unknown; role?: unknown } | null;
    if (raw.length === 32 && typeof v?.name === "string" && (v.role === "writer" || v.role === "reader")) out.push({ key: raw, name: v.name, role: v.role });
  }
  return out;
}

/** List this device in the roster (again, when its name changed). */
export function enroll(doc: Y.Doc, device: Bytes, name: string): void {
  const map = doc.getMap(ROSTER);
  const id = b64urlEncode(device);
  const now = map.get(id) as { name?: unknown; role?: unknown } | undefined;
  if (now?.name === name && now.role === "writer") return;
  map.set(id, { name, role: "writer" });
}

/** The next epoch's keys and the rotation envelope keeping every roster device not named in `remove`. */
export async function prepareRotation(
  doc: Y.Doc, keyring: Keyring, remove: string[], own: Bytes | null, covers: number, logHash: Bytes | null,
): Promise<{ keys: RoomKeys; envelope: Bytes }> {
  const current = keyring.current;
  const next = await RoomKeys.forEpoch(current.roomIdBytes, current.epoch + 1, { writeSecret: generateWriteSecret() });
  const recipients = new Map<string, boolean>();
  for (const d of roster(doc)) if (!remove.includes(d.name)) recipients.set(b64urlEncode(d.key), d.role === "writer");
  if (own) recipients.set(b64urlEncode(own), true);
  const boxes = await Promise.all(
    [...recipients].sort(([a], [b]) => (a < b ? -1 : 1)).map(([key, writer]) => sealBox(next.roomIdBytes, next.epoch, b64urlDecode(key), boxPlaintext(next, writer))),
  );
  const envelope = await sealRotation(current, next, {
    ref: covers, chain: keyring.past, starts: keyring.starts, boxes, authorId: newAuthorId(), removed: remove, logHash,
  });
  return { keys: next, envelope };
}

/** This tab keeps the new link's key, so a reload opens the room under its current keys
 * (web/src/crypto/fragment.ts keeps the first one the same way). */
export function rememberRotatedLink(keys: RoomKeys): void {
  try {
    const secret = keys.writeSecret ? `#k=${b64urlEncode(keys.writeSecret)}` : `#r=${b64urlEncode(keys.readCapability)}`;
    globalThis.sessionStorage?.setItem(`collab.link-key ${globalThis.location?.pathname}`, `${secret}&e=${keys.epoch}`);
  } catch {
    // No sessionStorage: a reload asks for the new link.
  }
}

/** What the people list's "Remove from session" needs of a room's transport. */
export interface Rotator {
  readonly canWrite: boolean;
  readonly logCode: string;
  rosterNames(): string[];
  rotate(remove: string[]): Promise<RoomKeys>;
  onRotated(listener: (keys: RoomKeys) => void): void;
}

// Keyed by the transport's own Awareness (which the people list is given), so the list finds the
// transport of its room without the session page passing it along; weak, so nothing outlives a room.
const rotators = new WeakMap<Awareness, Rotator>();

export function registerRotator(awareness: Awareness, rotator: Rotator): void {
  rotators.set(awareness, rotator);
}

export function rotatorFor(awareness: Awareness): Rotator | undefined {
  return rotators.get(awareness);
}
