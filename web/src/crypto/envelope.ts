// The E2EE envelope (docs/e2ee.md "The envelope"); byte-for-byte the construction of
// collab/protocol/envelope.py, checked against tests/vectors/e2ee.json.
import { bytes, concat, equal, randomBytes, readU64, toHex, writeU64, type Bytes } from "./bytes.js";
import { b64urlEncode } from "./b64url.js";
import type { RoomKeys } from "./keys.js";

export const MAGIC = bytes([0x43, 0x4c, 0x42]); // "CLB"
export const VERSION = 1;
export const EPOCH = 0;
export const ROOM_ID_SIZE = 16;
export const AUTHOR_ID_SIZE = 16;
export const NONCE_SIZE = 12;
export const TAG_SIZE = 16;
export const SIGNATURE_SIZE = 64;
export const HEADER_SIZE = 3 + 1 + 1 + ROOM_ID_SIZE + 4 + AUTHOR_ID_SIZE + 8 + 8 + NONCE_SIZE; // 69
export const PREFIX_SIZE = HEADER_SIZE + 4;
export const MAX_PLAINTEXT = 2 ** 32 - 1 - TAG_SIZE;

export enum EnvelopeType {
  UPDATE = 1,
  SNAPSHOT = 2,
  AWARENESS = 3,
}

const TYPE_NAMES: Record<number, string> = { 1: "update", 2: "snapshot", 3: "awareness" };
const signed = (t: EnvelopeType) => t === EnvelopeType.UPDATE || t === EnvelopeType.SNAPSHOT;

// Error names match the Python exception classes: the shared test vectors name them.
export class EnvelopeError extends Error {
  override name = "EnvelopeError";
}
export class MalformedEnvelope extends EnvelopeError {
  override name = "MalformedEnvelope";
}
export class WrongRoom extends EnvelopeError {
  override name = "WrongRoom";
}
export class WrongEpoch extends EnvelopeError {
  override name = "WrongEpoch";
}
export class TamperedEnvelope extends EnvelopeError {
  override name = "TamperedEnvelope";
}
export class ReplayedEnvelope extends EnvelopeError {
  override name = "ReplayedEnvelope";
}
export class ReorderedEnvelope extends EnvelopeError {
  override name = "ReorderedEnvelope";
  constructor(message: string, readonly expected: number, readonly got: number) {
    super(message);
  }
}

export interface Envelope {
  type: EnvelopeType;
  roomIdBytes: Bytes;
  epoch: number;
  authorId: Bytes;
  authorSeq: number;
  ref: number;
  nonce: Bytes;
  header: Bytes;
  ciphertext: Bytes;
  signature: Bytes | null;
  signedPart: Bytes; // header || u32 length || ciphertext
}

export interface Opened {
  type: EnvelopeType;
  authorId: Bytes;
  authorSeq: number;
  ref: number;
  plaintext: Bytes;
}

export function newAuthorId(): Bytes {
  return randomBytes(AUTHOR_ID_SIZE);
}

export function sealUpdate(keys: RoomKeys, authorId: Bytes, authorSeq: number, plaintext: Uint8Array, nonce?: Bytes): Promise<Bytes> {
  return seal(keys, EnvelopeType.UPDATE, authorId, authorSeq, 0, plaintext, nonce);
}

export function sealSnapshot(
  keys: RoomKeys,
  authorId: Bytes,
  authorSeq: number,
  coversSeq: number,
  plaintext: Uint8Array,
  nonce?: Bytes,
): Promise<Bytes> {
  return seal(keys, EnvelopeType.SNAPSHOT, authorId, authorSeq, coversSeq, plaintext, nonce);
}

/** Presence; works with read-only keys because awareness is not signed. */
export function sealAwareness(keys: RoomKeys, authorId: Bytes, counter: number, plaintext: Uint8Array, nonce?: Bytes): Promise<Bytes> {
  return seal(keys, EnvelopeType.AWARENESS, authorId, counter, 0, plaintext, nonce);
}

async function seal(
  keys: RoomKeys,
  type: EnvelopeType,
  authorId: Bytes,
  authorSeq: number,
  ref: number,
  plaintext: Uint8Array,
  nonce?: Bytes,
): Promise<Bytes> {
  // A read-only member must fail before any work is done.
  const signingKey = signed(type) ? keys.requireSigningKey() : null;
  if (authorId.length !== AUTHOR_ID_SIZE) throw new RangeError(`author id must be ${AUTHOR_ID_SIZE} bytes, got ${authorId.length}`);
  if (!Number.isSafeInteger(authorSeq) || authorSeq < 1) throw new RangeError(`author seq must be >= 1, got ${authorSeq}`);
  if (!Number.isSafeInteger(ref) || ref < 0) throw new RangeError(`snapshot sequence must be >= 0, got ${ref}`);
  if (plaintext.length > MAX_PLAINTEXT) throw new RangeError(`plaintext of ${plaintext.length} bytes is too large for one envelope`);
  // Random, never a counter: several tabs share one key and cannot coordinate one.
  const iv = nonce ?? randomBytes(NONCE_SIZE);
  if (iv.length !== NONCE_SIZE) throw new RangeError(`nonce must be ${NONCE_SIZE} bytes, got ${iv.length}`);

  const header = new Uint8Array(HEADER_SIZE);
  const view = new DataView(header.buffer);
  header.set(MAGIC, 0);
  header[3] = VERSION;
  header[4] = type;
  header.set(keys.roomIdBytes, 5);
  view.setUint32(21, keys.epoch);
  header.set(authorId, 25);
  writeU64(view, 41, authorSeq);
  writeU64(view, 49, ref);
  header.set(iv, 57);

  const key = type === EnvelopeType.AWARENESS ? keys.awarenessKey : keys.docKey;
  const ciphertext = bytes(
    await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: header, tagLength: 128 }, key, bytes(plaintext)),
  );
  const length = new Uint8Array(4);
  new DataView(length.buffer).setUint32(0, ciphertext.length);
  const body = concat(header, length, ciphertext);
  if (!signingKey) return body;
  const signature = bytes(await crypto.subtle.sign({ name: "Ed25519" }, signingKey, body));
  return concat(body, signature);
}

/** The cleartext structure; needs no keys (what the hub checks). Throws MalformedEnvelope. */
export function parseEnvelope(input: Uint8Array): Envelope {
  const data = bytes(input);
  const magicLen = Math.min(data.length, 3);
  if (!equal(data.subarray(0, magicLen), MAGIC.subarray(0, magicLen)) || data.length < 3) {
    if (data.length < 3 && equal(data, MAGIC.subarray(0, data.length))) throw new MalformedEnvelope(`truncated envelope: only ${data.length} bytes`);
    throw new MalformedEnvelope("not a collab envelope: the magic bytes are not 'CLB'");
  }
  if (data.length > 3 && data[3] !== VERSION) {
    throw new MalformedEnvelope(`unsupported envelope version ${data[3]} (this client speaks version ${VERSION})`);
  }
  if (data.length > 4 && !(data[4]! in TYPE_NAMES)) throw new MalformedEnvelope(`unknown envelope type ${data[4]}`);
  if (data.length < PREFIX_SIZE) {
    throw new MalformedEnvelope(`truncated envelope: ${data.length} bytes, the header and length alone take ${PREFIX_SIZE}`);
  }
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const type = data[4] as EnvelopeType;
  const kind = TYPE_NAMES[type]!;
  const ctLen = view.getUint32(HEADER_SIZE);
  if (ctLen < TAG_SIZE) throw new MalformedEnvelope(`ciphertext length ${ctLen} is shorter than the ${TAG_SIZE}-byte AES-GCM tag`);
  const sigLen = signed(type) ? SIGNATURE_SIZE : 0;
  const expected = PREFIX_SIZE + ctLen + sigLen;
  if (data.length < expected) throw new MalformedEnvelope(`truncated ${kind} envelope: ${data.length} bytes, expected ${expected}`);
  if (data.length > expected) throw new MalformedEnvelope(`${data.length - expected} trailing bytes after the ${kind} envelope`);
  let authorSeq: number;
  let ref: number;
  try {
    authorSeq = readU64(view, 41);
    ref = readU64(view, 49);
  } catch {
    throw new MalformedEnvelope("sequence numbers above 2**53 are not supported");
  }
  if (authorSeq === 0) throw new MalformedEnvelope("author seq 0 is invalid: sequences start at 1");
  if (ref !== 0 && type !== EnvelopeType.SNAPSHOT) throw new MalformedEnvelope(`ref must be 0 for ${kind} envelopes, got ${ref}`);
  const ctEnd = PREFIX_SIZE + ctLen;
  return {
    type,
    roomIdBytes: data.slice(5, 21),
    epoch: view.getUint32(21),
    authorId: data.slice(25, 41),
    authorSeq,
    ref,
    nonce: data.slice(57, 69),
    header: data.slice(0, HEADER_SIZE),
    ciphertext: data.slice(PREFIX_SIZE, ctEnd),
    signature: sigLen ? data.slice(ctEnd) : null,
    signedPart: data.slice(0, ctEnd),
  };
}

export async function verifySignature(keys: RoomKeys, env: Envelope): Promise<boolean> {
  if (!env.signature) return false;
  return crypto.subtle.verify({ name: "Ed25519" }, keys.verifyKey, env.signature, env.signedPart);
}

/**
 * Authenticate and decrypt. Checks run in the fixed order the vectors rely on: structure,
 * room id, epoch, signature (before decrypting: a reader can make a decryptable update,
 * only the signature tells it apart), then the AES-GCM tag.
 */
export async function openEnvelope(keys: RoomKeys, input: Uint8Array | Envelope): Promise<Opened> {
  const env = input instanceof Uint8Array ? parseEnvelope(input) : input;
  if (!equal(env.roomIdBytes, keys.roomIdBytes)) {
    throw new WrongRoom(`envelope belongs to room ${b64urlEncode(env.roomIdBytes)}, not to room ${keys.roomId}`);
  }
  if (env.epoch !== keys.epoch) throw new WrongEpoch(`envelope uses key epoch ${env.epoch}; these keys are epoch ${keys.epoch}`);
  const kind = TYPE_NAMES[env.type]!;
  const who = `${kind} envelope from author ${toHex(env.authorId)} seq ${env.authorSeq}`;
  if (signed(env.type) && !(await verifySignature(keys, env))) {
    throw new TamperedEnvelope(
      `${who}: the signature does not verify under the room's write key (altered, or forged by someone without the write secret)`,
    );
  }
  const key = env.type === EnvelopeType.AWARENESS ? keys.awarenessKey : keys.docKey;
  let plaintext: Bytes;
  try {
    plaintext = bytes(
      await crypto.subtle.decrypt({ name: "AES-GCM", iv: env.nonce, additionalData: env.header, tagLength: 128 }, key, env.ciphertext),
    );
  } catch {
    throw new TamperedEnvelope(`${who}: decryption failed (ciphertext or header altered, or sealed under another key)`);
  }
  return { type: env.type, authorId: env.authorId, authorSeq: env.authorSeq, ref: env.ref, plaintext };
}
