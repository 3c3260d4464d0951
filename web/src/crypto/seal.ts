// Sealed invites (collab/crypto/sealing.py is the Python twin; docs/ai.md "Inviting an agent"):
// the room secret encrypted to an agent service's X25519 key, so the hub relays only ciphertext.
//   e, E = fresh X25519 pair; shared = X25519(e, A)
//   key  = HKDF-SHA256(shared, salt = E || A, info = "collab v1 agent-invite")
//   aad  = "collab v1 agent-invite" || room id (16 bytes) || A || E;  AES-256-GCM, random nonce
// tests/vectors/seal.json (web/test/seal.test.ts) holds both implementations to the same bytes.
import { b64urlDecode, b64urlEncode } from "./b64url.js";
import { bytes, concat, fromHex, randomBytes, toHex, utf8, type Bytes } from "./bytes.js";
import { CryptoError, READ_CAPABILITY_SIZE, READ_SECRET_SIZE, RoomKeys, WRITE_SECRET_SIZE } from "./keys.js";

const LABEL = "collab v1 agent-invite";

export interface SealedInvite {
  room: string;
  ephemeral: string;
  nonce: string;
  ciphertext: string;
}

/** First 16 bytes of SHA-256 of the public key, hex in groups of four (same as Python's). */
export async function fingerprint(publicKey: Bytes): Promise<string> {
  const digest = toHex(bytes(await crypto.subtle.digest("SHA-256", publicKey))).slice(0, 32);
  return digest.match(/.{4}/g)!.join(" ");
}

export function agentPublicKey(text: string): Bytes {
  let raw: Bytes;
  try {
    raw = b64urlDecode(text);
  } catch {
    throw new CryptoError("the agent's public key is not base64url");
  }
  if (raw.length !== 32) throw new CryptoError("the agent's public key must be 32 bytes (X25519)");
  return raw;
}

const X25519 = { name: "X25519" };
// PKCS#8 header of a raw X25519 private key (RFC 8410): WebCrypto imports private keys no other way.
const PKCS8_X25519 = fromHex("302e020100300506032b656e04220420");

/** Thrown for an invite that cannot be opened; `reason` is the code tests/vectors/seal.json compares. */
export class SealError extends CryptoError {
  override name = "SealError";
  constructor(message: string, readonly reason: "malformed" | "ephemeral" | "tag" | "plaintext" | "room" | "secret" = "malformed") {
    super(message);
  }
}

/** Fixed inputs, for test vectors only: a reused ephemeral key or nonce is a broken invite. */
export interface FixedSealInputs {
  ephemeralPrivate: Bytes;
  nonce: Bytes;
}

export async function importX25519Private(raw: Bytes): Promise<CryptoKey> {
  return crypto.subtle.importKey("pkcs8", concat(PKCS8_X25519, raw), X25519, true, ["deriveBits"]);
}

/** The public key of an extractable X25519 private key (its JWK carries it as "x"). */
export async function x25519PublicOf(privateKey: CryptoKey): Promise<Bytes> {
  return b64urlDecode((await crypto.subtle.exportKey("jwk", privateKey)).x!);
}

/** X25519(own, peer): the 32-byte shared secret (the invite's key and its ack key both come from it). */
export async function x25519Shared(ownPrivate: CryptoKey, peerPublic: Bytes): Promise<Bytes> {
  const peer = await crypto.subtle.importKey("raw", peerPublic, X25519, false, []);
  return bytes(await crypto.subtle.deriveBits({ name: "X25519", public: peer } as unknown as AlgorithmIdentifier, ownPrivate, 256));
}

async function keyAndAad(ownPrivate: CryptoKey, peerPublic: Bytes, roomIdBytes: Bytes, agentPublic: Bytes, ephPublic: Bytes, usage: KeyUsage) {
  const shared = await x25519Shared(ownPrivate, peerPublic);
  const ikm = await crypto.subtle.importKey("raw", shared, "HKDF", false, ["deriveKey"]);
  const key = await crypto.subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt: concat(ephPublic, agentPublic), info: utf8(LABEL) },
    ikm,
    { name: "AES-GCM", length: 256 },
    false,
    [usage],
  );
  return { key, aad: concat(utf8(LABEL), roomIdBytes, agentPublic, ephPublic) };
}

/** Seal the write secret (read-only keys: the read capability) of a room to an agent. */
export async function sealInvite(keys: RoomKeys, agentPublic: Bytes, fixed?: FixedSealInputs): Promise<SealedInvite> {
  return (await sealKeepingEphemeral(keys, agentPublic, fixed)).sealed;
}

/** The same, also returning the invite's ephemeral private key: the page keeps it (in memory) to
 * check the agent's invite-ack (inviteack.ts), then drops it. */
export async function sealKeepingEphemeral(keys: RoomKeys, agentPublic: Bytes, fixed?: FixedSealInputs): Promise<{ sealed: SealedInvite; ephemeral: CryptoKey }> {
  let eph: CryptoKey;
  let ephPublic: Bytes;
  if (fixed) {
    eph = await importX25519Private(fixed.ephemeralPrivate);
    ephPublic = await x25519PublicOf(eph);
  } else {
    const pair = (await crypto.subtle.generateKey(X25519, true, ["deriveBits"])) as CryptoKeyPair;
    eph = pair.privateKey;
    ephPublic = bytes(await crypto.subtle.exportKey("raw", pair.publicKey));
  }
  const { key, aad } = await keyAndAad(eph, agentPublic, keys.roomIdBytes, agentPublic, ephPublic, "encrypt");
  const body: Record<string, unknown> = keys.writeSecret ? { room: keys.roomId, k: b64urlEncode(keys.writeSecret) } : { room: keys.roomId, r: b64urlEncode(keys.readCapability) };
  if (keys.epoch) body.e = keys.epoch; // after a rotation: the epoch these secrets belong to
  const nonce = fixed ? fixed.nonce : randomBytes(12);
  const sealed = await crypto.subtle.encrypt({ name: "AES-GCM", iv: nonce, additionalData: aad }, key, utf8(JSON.stringify(body)));
  return {
    sealed: { room: keys.roomId, ephemeral: b64urlEncode(ephPublic), nonce: b64urlEncode(nonce), ciphertext: b64urlEncode(bytes(sealed)) },
    ephemeral: eph,
  };
}

function field(invite: Record<string, unknown>, name: string): Bytes {
  const value = invite[name];
  if (typeof value !== "string") throw new SealError(`the invite has no '${name}'`);
  try {
    return b64urlDecode(value);
  } catch {
    throw new SealError(`the invite's ${name} is not base64url`);
  }
}

/** Open an invite sealed to `agentPrivate` (what the agent service does; pages only seal, the
 * vectors check both directions) and return the room's keys, checked against its room id. */
export async function unsealInvite(invite: unknown, agentPrivate: CryptoKey /* extractable */): Promise<RoomKeys> {
  if (typeof invite !== "object" || invite === null) throw new SealError("an invite must be a JSON object");
  const fields = invite as Record<string, unknown>;
  const ephemeral = field(fields, "ephemeral");
  const nonce = field(fields, "nonce");
  const ciphertext = field(fields, "ciphertext");
  const room = typeof fields.room === "string" ? fields.room : "";
  let roomIdBytes: Bytes;
  try {
    roomIdBytes = b64urlDecode(room);
  } catch {
    roomIdBytes = new Uint8Array(0);
  }
  if (ephemeral.length !== 32) throw new SealError("the invite's ephemeral key must be 32 bytes");
  if (nonce.length !== 12) throw new SealError("the invite's nonce must be 12 bytes");
  if (ciphertext.length <= 16 || ciphertext.length > 1024 + 16) throw new SealError("the invite's ciphertext has an impossible size");
  if (roomIdBytes.length !== 16) throw new SealError("invites are for encrypted rooms: the room id must be 16 bytes of base64url");
  const agentPublic = await x25519PublicOf(agentPrivate);
  let derived: { key: CryptoKey; aad: Bytes };
  try {
    derived = await keyAndAad(agentPrivate, ephemeral, roomIdBytes, agentPublic, ephemeral, "decrypt");
  } catch {
    throw new SealError("the invite's ephemeral key is unusable", "ephemeral");
  }
  let plaintext: Bytes;
  try {
    plaintext = bytes(await crypto.subtle.decrypt({ name: "AES-GCM", iv: nonce, additionalData: derived.aad }, derived.key, ciphertext));
  } catch {
    throw new SealError("the invite was not sealed to this agent's key, or was altered on the way", "tag");
  }
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(plaintext));
  } catch {
    throw new SealError("the invite's plaintext is not JSON", "plaintext");
  }
  if (typeof body !== "object" || body === null || body.room !== room) {
    throw new SealError("the invite's sealed room id does not match the room it was addressed to", "room");
  }
  let keys: RoomKeys;
  const secret = (name: string): Bytes => {
    try {
      return b64urlDecode(body[name] as string);
    } catch {
      throw new SealError("the sealed secret is not base64url", "secret");
    }
  };
  const epoch = body.e ?? 0;
  if (typeof epoch !== "number" || !Number.isInteger(epoch) || epoch < 0) throw new SealError("the invite's key epoch is not a whole number", "secret");
  if (typeof body.k === "string" && epoch) {
    const k = secret("k");
    if (k.length !== WRITE_SECRET_SIZE) throw new SealError("the sealed write secret has the wrong size", "secret");
    keys = await RoomKeys.forEpoch(roomIdBytes, epoch, { writeSecret: k });
  } else if (typeof body.r === "string" && epoch) {
    const r = secret("r");
    if (r.length !== READ_CAPABILITY_SIZE) throw new SealError("the sealed read capability has the wrong size", "secret");
    keys = await RoomKeys.forEpoch(roomIdBytes, epoch, { readSecret: r.slice(0, READ_SECRET_SIZE), writePublicKey: r.slice(READ_SECRET_SIZE) });
  } else if (typeof body.k === "string") {
    const k = secret("k");
    if (k.length !== WRITE_SECRET_SIZE) throw new SealError("the sealed write secret has the wrong size", "secret");
    keys = (await RoomKeys.opening(room, { writeSecret: k })) ?? (await RoomKeys.fromWriteSecret(k));
  } else if (typeof body.r === "string") {
    const r = secret("r");
    if (r.length !== READ_CAPABILITY_SIZE) throw new SealError("the sealed read capability has the wrong size", "secret");
    try {
      keys = (await RoomKeys.opening(room, { readCapability: r })) ?? (await RoomKeys.fromReadCapability(r.slice(0, READ_SECRET_SIZE), r.slice(READ_SECRET_SIZE)));
    } catch {
      throw new SealError("the sealed read capability is not a valid key", "secret");
    }
  } else {
    throw new SealError("the invite carries no room secret", "secret");
  }
  if (keys.roomId !== room) throw new SealError("the sealed secret opens a different room than the invite names", "secret");
  return keys;
}
