// Room secrets and everything derived from them, with WebCrypto (docs/e2ee.md "Keys").
// Mirrors collab/crypto/keys.py: HKDF-SHA256 with an empty salt and one ASCII label per value.
import { b64urlEncode } from "./b64url.js";
import { bytes, concat, fromHex, randomBytes, utf8, type Bytes } from "./bytes.js";

export const WRITE_SECRET_SIZE = 32;
export const READ_SECRET_SIZE = 32;
export const ROOM_ID_SIZE = 16;
export const PUBLIC_KEY_SIZE = 32;
export const READ_CAPABILITY_SIZE = READ_SECRET_SIZE + PUBLIC_KEY_SIZE;

export const INFO = {
  writeAuth: "collab v1 write-auth",
  read: "collab v1 read",
  roomId: "collab v1 room-id",
  // Rooms made since rotation bind the write public key into their id (salt W): a read-only link
  // re-issued with another write key names another room and fails to parse.
  roomIdBound: "collab v1 room-id bound",
  docKey: "collab v1 doc-key",
  awarenessKey: "collab v1 awareness-key",
  readerAuth: "collab v1 reader-auth",
} as const;

// Browser only (no Python twin): the key of the room's copy in IndexedDB (web/src/storage/local.ts).
// Its own label, so the copy at rest never shares a key (or nonces) with what goes over the wire.
// A read-only link's copy: from the read secret. A write link's copy (it holds edits the page will
// sign and send): from the write secret, so a reader with access to the profile cannot plant them.
export const LOCAL_STORE_INFO = "collab v1 local-store";
export const LOCAL_STORE_WRITER_INFO = "collab v1 local-store writer";

export class CryptoError extends Error {
  override name = "CryptoError";
}

export class ReadOnlyKeys extends CryptoError {
  override name = "ReadOnlyKeys";
}

// PKCS#8 wrapping of a raw Ed25519 seed (RFC 8410): WebCrypto cannot import a bare seed.
const ED25519_PKCS8_PREFIX = fromHex("302e020100300506032b657004220420");

export async function hkdfSha256(secret: Bytes, info: string, length: number, salt: Bytes = new Uint8Array(0)): Promise<Bytes> {
  const key = await crypto.subtle.importKey("raw", secret, "HKDF", false, ["deriveBits"]);
  const bits = await crypto.subtle.deriveBits({ name: "HKDF", hash: "SHA-256", salt, info: utf8(info) }, key, length * 8);
  return bytes(bits);
}

export const MAX_EPOCH = 2 ** 32 - 1;

/** The HKDF label of `name` in epoch >= 1 (epoch 0 keeps INFO, so rooms made before rotation read as they did). */
export function epochInfo(epoch: number, name: string): string {
  if (!Number.isInteger(epoch) || epoch < 1 || epoch > MAX_EPOCH) throw new CryptoError(`epoch must be between 1 and ${MAX_EPOCH}, got ${epoch}`);
  return `collab v1 e${epoch} ${name}`;
}

export function generateWriteSecret(): Bytes {
  return randomBytes(WRITE_SECRET_SIZE);
}

/** Everything one member holds for one encrypted room. Never log it: toString shows the room id only. */
export class RoomKeys {
  private constructor(
    readonly roomId: string,
    readonly roomIdBytes: Bytes,
    readonly readSecret: Bytes,
    readonly docKey: CryptoKey,
    readonly awarenessKey: CryptoKey,
    readonly writePublicKey: Bytes,
    readonly verifyKey: CryptoKey,
    readonly writeSecret: Bytes | null,
    readonly signingKey: CryptoKey | null,
    // Every member signs the hub's challenge with it to be let in as a reader (docs/e2ee.md).
    readonly readerKey: CryptoKey,
    readonly readerPublicKey: Bytes,
    // Raw key bytes, only for the test vectors; the CryptoKeys above are what the code uses.
    readonly raw: { docKey: Bytes; awarenessKey: Bytes; writeAuthSeed: Bytes | null; readerAuthSeed: Bytes },
    // 0: the room's first keys; each rotation adds one (web/src/crypto/epochs.ts, docs/e2ee.md "Rotation").
    readonly epoch: number = 0,
  ) {}

  /**
   * The keys of epoch >= 1 (collab/crypto/keys.py RoomKeys.for_epoch): the room id salts every
   * derivation and the write public key the read side's, so a read capability with another write
   * key, or for another room, derives keys that open nothing.
   */
  static async forEpoch(
    roomIdBytes: Bytes,
    epoch: number,
    from: { writeSecret: Bytes } | { readSecret: Bytes; writePublicKey: Bytes },
  ): Promise<RoomKeys> {
    checkLen("room id", roomIdBytes, ROOM_ID_SIZE);
    let writeSecret: Bytes | null = null;
    let signingKey: CryptoKey | null = null;
    let seed: Bytes | null = null;
    let readSecret: Bytes;
    let writePublicKey: Bytes;
    if ("writeSecret" in from) {
      checkLen("write secret", from.writeSecret, WRITE_SECRET_SIZE);
      writeSecret = from.writeSecret;
      seed = await hkdfSha256(writeSecret, epochInfo(epoch, "write-auth"), 32, roomIdBytes);
      [signingKey, writePublicKey] = await ed25519FromSeed(seed);
      readSecret = await hkdfSha256(writeSecret, epochInfo(epoch, "read"), READ_SECRET_SIZE, roomIdBytes);
    } else {
      checkLen("read secret", from.readSecret, READ_SECRET_SIZE);
      checkLen("write public key", from.writePublicKey, PUBLIC_KEY_SIZE);
      readSecret = from.readSecret;
      writePublicKey = from.writePublicKey;
    }
    const salt = concat(roomIdBytes, writePublicKey);
    const docKeyRaw = await hkdfSha256(readSecret, epochInfo(epoch, "doc-key"), 32, salt);
    const awarenessKeyRaw = await hkdfSha256(readSecret, epochInfo(epoch, "awareness-key"), 32, salt);
    const readerSeed = await hkdfSha256(readSecret, epochInfo(epoch, "reader-auth"), 32, salt);
    return RoomKeys.assemble(roomIdBytes, readSecret, writePublicKey, writeSecret, signingKey, seed, docKeyRaw, awarenessKeyRaw, readerSeed, epoch);
  }

  /** The same epoch's keys without the power to write. */
  async readOnly(): Promise<RoomKeys> {
    return this.epoch
      ? RoomKeys.forEpoch(this.roomIdBytes, this.epoch, { readSecret: this.readSecret, writePublicKey: this.writePublicKey })
      : ((await RoomKeys.opening(this.roomId, { readCapability: this.readCapability })) ?? RoomKeys.fromReadCapability(this.readSecret, this.writePublicKey));
  }

  /** `bound`: the room id binds the write public key (how rooms are made now). */
  static async fromWriteSecret(writeSecret: Bytes, bound = false): Promise<RoomKeys> {
    checkLen("write secret", writeSecret, WRITE_SECRET_SIZE);
    const seed = await hkdfSha256(writeSecret, INFO.writeAuth, 32);
    const [signingKey, publicKey] = await ed25519FromSeed(seed);
    const readSecret = await hkdfSha256(writeSecret, INFO.read, READ_SECRET_SIZE);
    return RoomKeys.fromReadSecret(readSecret, publicKey, writeSecret, signingKey, seed, bound);
  }

  static async fromReadCapability(readSecret: Bytes, writePublicKey: Bytes, bound = false): Promise<RoomKeys> {
    checkLen("read secret", readSecret, READ_SECRET_SIZE);
    checkLen("write public key", writePublicKey, PUBLIC_KEY_SIZE);
    return RoomKeys.fromReadSecret(readSecret, writePublicKey, null, null, null, bound);
  }

  /** Epoch-0 keys of the room `roomId`: its id as rooms made before binding have it, or the bound
   * one; null when neither is this room. */
  static async opening(roomId: string, from: { writeSecret: Bytes } | { readCapability: Bytes }): Promise<RoomKeys | null> {
    for (const bound of [false, true]) {
      const keys =
        "writeSecret" in from
          ? await RoomKeys.fromWriteSecret(from.writeSecret, bound)
          : await RoomKeys.fromReadCapability(from.readCapability.slice(0, READ_SECRET_SIZE), from.readCapability.slice(READ_SECRET_SIZE), bound);
      if (keys.roomId === roomId) return keys;
    }
    return null;
  }

  private static async fromReadSecret(
    readSecret: Bytes,
    writePublicKey: Bytes,
    writeSecret: Bytes | null,
    signingKey: CryptoKey | null,
    seed: Bytes | null,
    bound = false,
  ): Promise<RoomKeys> {
    const roomIdBytes = bound
      ? await hkdfSha256(readSecret, INFO.roomIdBound, ROOM_ID_SIZE, writePublicKey)
      : await hkdfSha256(readSecret, INFO.roomId, ROOM_ID_SIZE);
    const docKeyRaw = await hkdfSha256(readSecret, INFO.docKey, 32);
    const awarenessKeyRaw = await hkdfSha256(readSecret, INFO.awarenessKey, 32);
    const readerSeed = await hkdfSha256(readSecret, INFO.readerAuth, 32);
    return RoomKeys.assemble(roomIdBytes, readSecret, writePublicKey, writeSecret, signingKey, seed, docKeyRaw, awarenessKeyRaw, readerSeed, 0);
  }

  private static async assemble(
    roomIdBytes: Bytes,
    readSecret: Bytes,
    writePublicKey: Bytes,
    writeSecret: Bytes | null,
    signingKey: CryptoKey | null,
    seed: Bytes | null,
    docKeyRaw: Bytes,
    awarenessKeyRaw: Bytes,
    readerSeed: Bytes,
    epoch: number,
  ): Promise<RoomKeys> {
    const [readerKey, readerPublicKey] = await ed25519FromSeed(readerSeed);
    const aes = (raw: Bytes) => crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]);
    let verifyKey: CryptoKey;
    try {
      verifyKey = await crypto.subtle.importKey("raw", writePublicKey, { name: "Ed25519" }, false, ["verify"]);
    } catch {
      throw new CryptoError("write public key is not a valid Ed25519 public key");
    }
    return new RoomKeys(
      b64urlEncode(roomIdBytes),
      roomIdBytes,
      readSecret,
      await aes(docKeyRaw),
      await aes(awarenessKeyRaw),
      writePublicKey,
      verifyKey,
      writeSecret,
      signingKey,
      readerKey,
      readerPublicKey,
      { docKey: docKeyRaw, awarenessKey: awarenessKeyRaw, writeAuthSeed: seed, readerAuthSeed: readerSeed },
      epoch,
    );
  }

  get canWrite(): boolean {
    return this.signingKey !== null;
  }

  /** R || write public key: what a read-only link carries. */
  get readCapability(): Bytes {
    return concat(this.readSecret, this.writePublicKey);
  }

  requireSigningKey(): CryptoKey {
    if (!this.signingKey) throw new ReadOnlyKeys(`room ${this.roomId}: these keys come from a read-only link and cannot write`);
    return this.signingKey;
  }

  toString(): string {
    return `RoomKeys(${this.roomId}, canWrite=${this.canWrite}${this.epoch ? `, epoch=${this.epoch}` : ""})`;
  }

  toJSON(): string {
    return this.toString();
  }
}

/** The AES-GCM key that encrypts this browser's copy of the room: for write keys, one only the write
 * secret derives (docs/e2ee.md "What the browser keeps"); for read-only keys, one any link derives. */
export async function localStoreKey(keys: RoomKeys): Promise<CryptoKey> {
  const raw = keys.writeSecret
    ? await hkdfSha256(keys.writeSecret, LOCAL_STORE_WRITER_INFO, 32)
    : await hkdfSha256(keys.readSecret, LOCAL_STORE_INFO, 32);
  return crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]);
}

/** An Ed25519 signing key from its 32-byte seed, and its raw public key. */
async function ed25519FromSeed(seed: Bytes): Promise<[CryptoKey, Bytes]> {
  const key = await crypto.subtle.importKey("pkcs8", concat(ED25519_PKCS8_PREFIX, seed), { name: "Ed25519" }, true, ["sign"]);
  // The private JWK carries the public half ("x"): the only portable way to get it in WebCrypto.
  const jwk = await crypto.subtle.exportKey("jwk", key);
  return [key, bytes(Uint8Array.from(atob(jwk.x!.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0)))];
}

function checkLen(what: string, value: Uint8Array, size: number): void {
  if (value.length !== size) throw new CryptoError(`${what} must be ${size} bytes, got ${value.length}`);
}
