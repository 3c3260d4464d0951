// Hub authentication: sign the hub's challenge with the write-auth key, or as a reader with the
// reader-auth key every member derives from the read secret (docs/e2ee.md).
import { bytes, concat, utf8, type Bytes } from "./bytes.js";
import type { RoomKeys } from "./keys.js";
import { CryptoError } from "./keys.js";

export const AUTH_CONTEXT = "collab v1 auth";
export const CHALLENGE_SIZE = 32;

export function authMessage(roomIdBytes: Uint8Array, challenge: Uint8Array): Bytes {
  return concat(utf8(AUTH_CONTEXT), roomIdBytes, challenge);
}

export async function signChallenge(keys: RoomKeys, challenge: Uint8Array): Promise<Bytes> {
  const key = keys.requireSigningKey();
  if (challenge.length !== CHALLENGE_SIZE) throw new CryptoError(`challenge must be ${CHALLENGE_SIZE} bytes, got ${challenge.length}`);
  return bytes(await crypto.subtle.sign({ name: "Ed25519" }, key, authMessage(keys.roomIdBytes, challenge)));
}

/** The answer of a reader: any member's keys give it, a stranger who knows only the room id cannot. */
export async function signReaderChallenge(keys: RoomKeys, challenge: Uint8Array): Promise<Bytes> {
  if (challenge.length !== CHALLENGE_SIZE) throw new CryptoError(`challenge must be ${CHALLENGE_SIZE} bytes, got ${challenge.length}`);
  return bytes(await crypto.subtle.sign({ name: "Ed25519" }, keys.readerKey, authMessage(keys.roomIdBytes, challenge)));
}

/** True only for a valid answer; never throws on malformed input. */
export async function verifyChallenge(
  writePublicKey: Uint8Array,
  roomIdBytes: Uint8Array,
  challenge: Uint8Array,
  signature: Uint8Array,
): Promise<boolean> {
  if (writePublicKey.length !== 32 || roomIdBytes.length !== 16 || challenge.length !== CHALLENGE_SIZE || signature.length !== 64) return false;
  try {
    const key = await crypto.subtle.importKey("raw", bytes(writePublicKey), { name: "Ed25519" }, false, ["verify"]);
    return await crypto.subtle.verify({ name: "Ed25519" }, key, bytes(signature), authMessage(roomIdBytes, challenge));
  } catch {
    return false;
  }
}
