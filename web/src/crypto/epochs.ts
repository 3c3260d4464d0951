// Key epochs and rotation (docs/e2ee.md "Rotation"): the twins of collab/crypto/epochs.py (boxes
// sealed to each kept device) and collab/protocol/rotation.py (the rotation envelope), checked
// against tests/vectors/epochs.json (web/test/epochs.test.ts).
import { b64urlDecode, b64urlEncode } from "./b64url.js";
import { bytes, concat, equal, randomBytes, readU64, utf8, writeU64, type Bytes } from "./bytes.js";
import { CryptoError, PUBLIC_KEY_SIZE, READ_SECRET_SIZE, RoomKeys } from "./keys.js";
import { importX25519Private, x25519PublicOf, x25519Shared } from "./seal.js";

export const BOX_LABEL = "collab v1 rotation-box";
export const PROOF_LABEL = "collab v1 rotation-proof";
export const ROTATION_TYPE = 4;
const HEADER_SIZE = 69;
const SIG = 64;

export class RotationError extends CryptoError {
  override name = "RotationError";
}

/** A genuine rotation with no box for this device: it was removed from the session. */
export class Removed extends RotationError {
  override name = "Removed";
}

function u32(n: number): Bytes {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, n);
  return out;
}

function u16(n: number): Bytes {
  const out = new Uint8Array(2);
  new DataView(out.buffer).setUint16(0, n);
  return out;
}

async function boxKey(shared: Bytes, roomId: Bytes, epoch: number, device: Bytes, ephemeral: Bytes, usage: KeyUsage) {
  const ikm = await crypto.subtle.importKey("raw", shared, "HKDF", false, ["deriveKey"]);
  const key = await crypto.subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt: concat(ephemeral, device), info: utf8(BOX_LABEL) },
    ikm,
    { name: "AES-GCM", length: 256 },
    false,
    [usage],
  );
  return { key, aad: concat(utf8(BOX_LABEL), roomId, u32(epoch), device, ephemeral) };
}

/** What a kept device gets: the write secret for a writer, R || W for a reader. */
export function boxPlaintext(keys: RoomKeys, writer: boolean): Bytes {
  if (writer) {
    if (!keys.writeSecret) throw new RotationError("a writer's box needs the new write secret");
    return utf8(JSON.stringify({ k: b64urlEncode(keys.writeSecret) }));
  }
  return utf8(JSON.stringify({ r: b64urlEncode(concat(keys.readSecret, keys.writePublicKey)) }));
}

export async function sealBox(
  roomId: Bytes, epoch: number, device: Bytes, plaintext: Bytes, fixed?: { ephemeralPrivate: Bytes; nonce: Bytes },
): Promise<Bytes> {
  let eph: CryptoKey;
  if (fixed) eph = await importX25519Private(fixed.ephemeralPrivate);
  else eph = ((await crypto.subtle.generateKey({ name: "X25519" }, true, ["deriveBits"])) as CryptoKeyPair).privateKey;
  const ephPublic = await x25519PublicOf(eph);
  const { key, aad } = await boxKey(await x25519Shared(eph, device), roomId, epoch, device, ephPublic, "encrypt");
  const nonce = fixed ? fixed.nonce : randomBytes(12);
  const ct = await crypto.subtle.encrypt({ name: "AES-GCM", iv: nonce, additionalData: aad }, key, plaintext);
  return concat(ephPublic, nonce, bytes(ct));
}

export async function openBox(roomId: Bytes, epoch: number, device: CryptoKey, box: Uint8Array): Promise<Bytes | null> {
  if (box.length < 32 + 12 + 16) return null;
  const devicePublic = await x25519PublicOf(device);
  try {
    const eph = bytes(box.subarray(0, 32));
    const { key, aad } = await boxKey(await x25519Shared(device, eph), roomId, epoch, devicePublic, eph, "decrypt");
    const raw = bytes(box);
    return bytes(await crypto.subtle.decrypt({ name: "AES-GCM", iv: raw.subarray(32, 44), additionalData: aad }, key, raw.subarray(44)));
  } catch {
    return null;
  }
}

async function keysFromBox(roomId: Bytes, epoch: number, plaintext: Bytes): Promise<RoomKeys> {
  try {
    const body = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(plaintext));
    if (typeof body?.k === "string") return await RoomKeys.forEpoch(roomId, epoch, { writeSecret: b64urlDecode(body.k) });
    if (typeof body?.r === "string") {
      const cap = b64urlDecode(body.r);
      return await RoomKeys.forEpoch(roomId, epoch, { readSecret: cap.slice(0, READ_SECRET_SIZE), writePublicKey: cap.slice(READ_SECRET_SIZE) });
    }
  } catch (err) {
    throw new RotationError(`the box holds no usable key: ${(err as Error).message}`);
  }
  throw new RotationError("the box holds no key");
}

async function keysOfLink(roomId: Bytes, epoch: number, readSecret: Bytes, writePublicKey: Bytes): Promise<RoomKeys> {
  if (epoch === 0) {
    const keys = await RoomKeys.opening(b64urlEncode(roomId), { readCapability: concat(readSecret, writePublicKey) });
    if (!keys) throw new RotationError("the back-link to epoch 0 opens another room");
    return keys;
  }
  return RoomKeys.forEpoch(roomId, epoch, { readSecret, writePublicKey });
}

export interface Rotation {
  roomIdBytes: Bytes;
  epoch: number;
  authorId: Bytes;
  ref: number;
  header: Bytes;
  ciphertext: Bytes;
  writeKey: Bytes;
  readKey: Bytes;
  boxes: Bytes[];
  proof: Bytes;
  signature: Bytes;
  data: Bytes;
}

export function parseRotation(input: Uint8Array): Rotation {
  const data = bytes(input);
  const fail = (why: string): never => {
    throw new RotationError(why);
  };
  if (data.length < HEADER_SIZE + 4) fail("truncated rotation envelope");
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (data[0] !== 0x43 || data[1] !== 0x4c || data[2] !== 0x42 || data[3] !== 1 || data[4] !== ROTATION_TYPE) fail("not a rotation envelope");
  const epoch = view.getUint32(21);
  if (epoch < 1 || (view.getUint32(41) === 0 && view.getUint32(45) === 0)) fail("a rotation's epoch and author seq start at 1");
  let pos = HEADER_SIZE;
  const ctLen = view.getUint32(pos);
  pos += 4;
  if (ctLen < 16 || pos + ctLen + 4 > data.length) fail("the rotation's ciphertext runs past its end");
  const ciphertext = data.slice(pos, pos + ctLen);
  pos += ctLen;
  const blockLen = view.getUint32(pos);
  pos += 4;
  if (pos + blockLen + 2 * SIG !== data.length || blockLen < 2 * PUBLIC_KEY_SIZE + 2) fail("the rotation's key block and signatures do not fill it exactly");
  const block = data.slice(pos, pos + blockLen);
  const bview = new DataView(block.buffer);
  const count = bview.getUint16(64);
  let at = 66;
  const boxes: Bytes[] = [];
  for (let i = 0; i < count; i++) {
    if (at + 2 > block.length) fail("the rotation's boxes run past the key block");
    const size = bview.getUint16(at);
    at += 2;
    if (at + size > block.length) fail("the rotation's boxes run past the key block");
    boxes.push(block.slice(at, at + size));
    at += size;
  }
  if (at !== block.length) fail("trailing bytes in the rotation's key block");
  const end = pos + blockLen;
  let ref = 0;
  try {
    ref = readU64(view, 49);
  } catch {
    fail("the rotation's ref is past what this page can count (2**53)");
  }
  return {
    roomIdBytes: data.slice(5, 21), epoch, authorId: data.slice(25, 41), ref, header: data.slice(0, HEADER_SIZE),
    ciphertext, writeKey: block.slice(0, 32), readKey: block.slice(32, 64), boxes, proof: data.slice(end, end + SIG),
    signature: data.slice(end + SIG), data,
  };
}

async function verifies(publicKey: Bytes, signature: Bytes, message: Bytes): Promise<boolean> {
  try {
    const key = await crypto.subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
    return await crypto.subtle.verify({ name: "Ed25519" }, key, signature, message);
  } catch {
    return false;
  }
}

export interface OpenedRotation {
  keys: RoomKeys;
  chain: Map<number, RoomKeys>; // every epoch before the new one, read-only
  starts: Map<number, number>; // epoch >= 1 -> the hub seq its rotation followed
  removed: string[];
  logHash: Bytes | null;
  ref: number;
}

/** Open a rotation as collab/protocol/rotation.py open_rotation does (same checks, same order). */
export async function openRotation(input: Uint8Array | Rotation, current: RoomKeys, device: CryptoKey | null): Promise<OpenedRotation> {
  const rot = input instanceof Uint8Array ? parseRotation(input) : input;
  const room = current.roomIdBytes;
  if (!equal(rot.roomIdBytes, room)) throw new RotationError("the rotation belongs to another room");
  const signed = rot.data.slice(0, rot.data.length - SIG);
  const proven = concat(utf8(PROOF_LABEL), rot.data.slice(0, rot.data.length - 2 * SIG));
  if (!(await verifies(rot.writeKey, rot.proof, proven))) throw new RotationError("the rotation does not prove possession of its new write key");
  if (rot.epoch === current.epoch + 1 && !(await verifies(current.writePublicKey, rot.signature, signed))) {
    throw new RotationError("the rotation is not signed by this epoch's write key");
  }
  let keys: RoomKeys;
  if (rot.epoch === current.epoch) keys = current;
  else if (rot.epoch > current.epoch) {
    if (!device) throw new Removed(`the room moved to epoch ${rot.epoch} and this page has no device key to open it`);
    let plain: Bytes | null = null;
    for (const box of rot.boxes) {
      plain = await openBox(room, rot.epoch, device, box);
      if (plain) break;
    }
    if (!plain) throw new Removed(`the room moved to epoch ${rot.epoch} without a key for this device`);
    keys = await keysFromBox(room, rot.epoch, plain);
  } else throw new RotationError(`a rotation to epoch ${rot.epoch}, older than this page's ${current.epoch}`);
  if (!equal(keys.writePublicKey, rot.writeKey) || !equal(keys.readerPublicKey, rot.readKey)) {
    throw new RotationError("the boxed keys are not the ones the rotation names");
  }
  let body: { chain: { e: number; r: string; w: string }[]; starts: Record<string, number>; removed?: string[]; log?: string };
  try {
    const key = await crypto.subtle.importKey("raw", keys.raw.docKey, "AES-GCM", false, ["decrypt"]);
    const plain = await crypto.subtle.decrypt({ name: "AES-GCM", iv: rot.header.slice(57), additionalData: rot.header }, key, rot.ciphertext);
    body = JSON.parse(new TextDecoder().decode(plain));
  } catch {
    throw new RotationError("the rotation's back-link does not decrypt under the new epoch's key");
  }
  const chain = new Map<number, RoomKeys>();
  const starts = new Map<number, number>();
  try {
    for (const link of body.chain) chain.set(link.e, await keysOfLink(room, link.e, b64urlDecode(link.r), b64urlDecode(link.w)));
    for (const [e, s] of Object.entries(body.starts)) starts.set(Number(e), Number(s));
  } catch (err) {
    throw new RotationError(`the rotation's back-link is malformed: ${(err as Error).message}`);
  }
  for (let e = 0; e < rot.epoch; e++) if (!chain.has(e)) throw new RotationError("the rotation's back-link does not list every earlier epoch");
  if (chain.size !== rot.epoch || starts.get(rot.epoch) !== rot.ref) throw new RotationError("the rotation's back-link does not list every earlier epoch");
  if (!(await verifies(chain.get(rot.epoch - 1)!.writePublicKey, rot.signature, signed))) throw new RotationError("the rotation is not signed by the epoch before it");
  if (current.epoch < rot.epoch) {
    const mine = chain.get(current.epoch);
    if (!mine || !equal(mine.readSecret, current.readSecret) || !equal(mine.writePublicKey, current.writePublicKey)) {
      throw new RotationError("the rotation's back-link does not continue this page's epoch");
    }
  }
  const logHash = typeof body.log === "string" && /^[0-9a-f]{64}$/.test(body.log) ? bytes(body.log.match(/../g)!.map((h) => parseInt(h, 16))) : null;
  return { keys, chain, starts, removed: (body.removed ?? []).map(String), logHash, ref: rot.ref };
}

/** Move from `old` (a writer's keys) to `next` (its epoch + 1): collab/protocol/rotation.py seal_rotation. */
export async function sealRotation(
  old: RoomKeys,
  next: RoomKeys,
  o: { ref: number; chain: Map<number, RoomKeys>; starts: Map<number, number>; boxes: Bytes[]; authorId: Bytes; removed: string[]; logHash: Bytes | null; nonce?: Bytes },
): Promise<Bytes> {
  const signing = old.requireSigningKey();
  const newSigning = next.requireSigningKey();
  if (next.epoch !== old.epoch + 1) throw new RotationError("a rotation moves a room to its next epoch");
  const nonce = o.nonce ?? randomBytes(12);
  const header = new Uint8Array(HEADER_SIZE);
  const view = new DataView(header.buffer);
  header.set([0x43, 0x4c, 0x42, 1, ROTATION_TYPE]);
  header.set(next.roomIdBytes, 5);
  view.setUint32(21, next.epoch);
  header.set(o.authorId, 25);
  writeU64(view, 41, 1);
  writeU64(view, 49, o.ref);
  header.set(nonce, 57);
  const links = new Map(o.chain);
  links.set(old.epoch, old);
  const starts = new Map(o.starts);
  starts.set(next.epoch, o.ref);
  const body: Record<string, unknown> = {
    chain: [...links.entries()].sort((a, b) => a[0] - b[0]).map(([e, k]) => ({ e, r: b64urlEncode(k.readSecret), w: b64urlEncode(k.writePublicKey) })),
    starts: Object.fromEntries([...starts.entries()].sort((a, b) => a[0] - b[0]).map(([e, s]) => [String(e), s])),
    removed: o.removed,
  };
  if (o.logHash) body.log = [...o.logHash].map((b) => b.toString(16).padStart(2, "0")).join("");
  const key = await crypto.subtle.importKey("raw", next.raw.docKey, "AES-GCM", false, ["encrypt"]);
  const ct = bytes(await crypto.subtle.encrypt({ name: "AES-GCM", iv: nonce, additionalData: header }, key, utf8(JSON.stringify(body))));
  const block = concat(next.writePublicKey, next.readerPublicKey, u16(o.boxes.length), ...o.boxes.flatMap((b) => [u16(b.length), b]));
  let data = concat(header, u32(ct.length), ct, u32(block.length), block);
  data = concat(data, bytes(await crypto.subtle.sign({ name: "Ed25519" }, newSigning, concat(utf8(PROOF_LABEL), data))));
  return concat(data, bytes(await crypto.subtle.sign({ name: "Ed25519" }, signing, data)));
}

/** A page's keys of one room: the current epoch's, and every earlier one's (to read history). */
export class Keyring {
  readonly past = new Map<number, RoomKeys>();
  readonly starts = new Map<number, number>();
  constructor(public current: RoomKeys) {}

  get epoch(): number {
    return this.current.epoch;
  }

  /** The keys that open a log entry of `epoch` at hub seq `seq`, or null (unknown, or an older
   * epoch's entry placed after the rotation that ended it). */
  forEntry(seq: number, epoch: number): RoomKeys | null {
    if (epoch === this.current.epoch) return this.current;
    const keys = this.past.get(epoch);
    const end = this.starts.get(epoch + 1);
    return keys && end !== undefined && seq <= end ? keys : null;
  }

  async advance(next: RoomKeys, chain: Map<number, RoomKeys>, starts: Map<number, number>): Promise<void> {
    for (const [e, k] of chain) this.past.set(e, k);
    if (this.current.epoch < next.epoch) this.past.set(this.current.epoch, await this.current.readOnly());
    for (const [e, s] of starts) this.starts.set(e, s);
    this.current = next;
  }

  learn(chain: Map<number, RoomKeys>, starts: Map<number, number>): void {
    for (const [e, k] of chain) if (e < this.current.epoch && !this.past.has(e)) this.past.set(e, k);
    for (const [e, s] of starts) if (e <= this.current.epoch) this.starts.set(e, s);
  }
}
