// Sealed invites (collab/ai/sealing.py is the Python twin; docs/ai.md "Inviting an agent"):
// the room secret encrypted to an agent service's X25519 key, so the hub relays only ciphertext.
//   e, E = fresh X25519 pair; shared = X25519(e, A)
//   key  = HKDF-SHA256(shared, salt = E || A, info = "collab v1 agent-invite")
//   aad  = "collab v1 agent-invite" || room id (16 bytes) || A || E;  AES-256-GCM, random nonce
import { b64urlDecode, b64urlEncode } from "./b64url.js";
import { bytes, concat, randomBytes, toHex, utf8, type Bytes } from "./bytes.js";
import { CryptoError, type RoomKeys } from "./keys.js";

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

/** Seal the write secret (read-only keys: the read capability) of a room to an agent. */
export async function sealInvite(keys: RoomKeys, agentPublic: Bytes): Promise<SealedInvite> {
  const X25519 = { name: "X25519" };
  const recipient = await crypto.subtle.importKey("raw", agentPublic, X25519, false, []);
  const eph = (await crypto.subtle.generateKey(X25519, true, ["deriveBits"])) as CryptoKeyPair;
  const ephPublic = bytes(await crypto.subtle.exportKey("raw", eph.publicKey));
  const shared = bytes(await crypto.subtle.deriveBits({ name: "X25519", public: recipient } as unknown as AlgorithmIdentifier, eph.privateKey, 256));
  const ikm = await crypto.subtle.importKey("raw", shared, "HKDF", false, ["deriveKey"]);
  const key = await crypto.subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt: concat(ephPublic, agentPublic), info: utf8(LABEL) },
    ikm,
    { name: "AES-GCM", length: 256 },
    false,
    ["encrypt"],
  );
  const body = keys.writeSecret ? { room: keys.roomId, k: b64urlEncode(keys.writeSecret) } : { room: keys.roomId, r: b64urlEncode(keys.readCapability) };
  const nonce = randomBytes(12);
  const aad = concat(utf8(LABEL), keys.roomIdBytes, agentPublic, ephPublic);
  const sealed = await crypto.subtle.encrypt({ name: "AES-GCM", iv: nonce, additionalData: aad }, key, utf8(JSON.stringify(body)));
  return { room: keys.roomId, ephemeral: b64urlEncode(ephPublic), nonce: b64urlEncode(nonce), ciphertext: b64urlEncode(bytes(sealed)) };
}
