// Invite confirmations (collab/crypto/invite_ack.py is the Python twin; docs/e2ee.md "Pinned agents"):
// the agent proves it holds the private key the page sealed the invite to.
//   shared  = X25519(e, A)            e: the invite's ephemeral private key, kept by the sealing page
//   ack key = HKDF-SHA256(shared, salt = E || A, info = "collab v1 invite-ack")
//   mac     = HMAC-SHA256(ack key, "collab v1 invite-ack" || room id || A || E || u64 client id || utf-8 name)
// The agent writes it to the document's "invite_acks" map under b64url(E); tests/vectors/invite_ack.json.
import { b64urlDecode } from "./b64url.js";
import { concat, utf8, type Bytes } from "./bytes.js";
import { x25519Shared } from "./seal.js";

export const ACKS_MAP = "invite_acks";
const LABEL = "collab v1 invite-ack";

/** What the agent wrote, read defensively from the document (anyone with the write link can write there). */
export interface AckEntry {
  agent: string;
  key: string;
  client: number;
  mac: Bytes;
}

export function readAck(value: unknown): AckEntry | null {
  if (typeof value !== "object" || value === null) return null;
  const v = value as Record<string, unknown>;
  if (typeof v.agent !== "string" || typeof v.key !== "string" || typeof v.client !== "string" || typeof v.mac !== "string") return null;
  if (!/^[0-9]{1,16}$/.test(v.client)) return null;
  const client = Number(v.client);
  if (!Number.isSafeInteger(client)) return null;
  try {
    return { agent: v.agent, key: v.key, client, mac: b64urlDecode(v.mac) };
  } catch {
    return null;
  }
}

export function ackMessage(roomIdBytes: Bytes, agentPublic: Bytes, ephPublic: Bytes, clientId: number, name: string): Bytes {
  const client = new Uint8Array(8);
  new DataView(client.buffer).setBigUint64(0, BigInt(clientId));
  return concat(utf8(LABEL), roomIdBytes, agentPublic, ephPublic, client, utf8(name));
}

/** The HMAC key the page checks acks with, from its ephemeral private key. */
export async function ackKey(ephemeral: CryptoKey, agentPublic: Bytes, ephPublic: Bytes): Promise<CryptoKey> {
  const shared = await x25519Shared(ephemeral, agentPublic);
  const ikm = await crypto.subtle.importKey("raw", shared, "HKDF", false, ["deriveKey"]);
  return crypto.subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt: concat(ephPublic, agentPublic), info: utf8(LABEL) },
    ikm,
    { name: "HMAC", hash: "SHA-256", length: 256 },
    false,
    ["verify"],
  );
}

export async function verifyAck(key: CryptoKey, roomIdBytes: Bytes, agentPublic: Bytes, ephPublic: Bytes, clientId: number, name: string, mac: Bytes): Promise<boolean> {
  if (mac.length !== 32) return false;
  return crypto.subtle.verify("HMAC", key, mac, ackMessage(roomIdBytes, agentPublic, ephPublic, clientId, name));
}
