// Share links (docs/e2ee.md "Links"); the rules of collab/crypto/links.py. Keys live in the
// fragment, which browsers never send. Error messages never quote the fragment.
import { b64urlDecode, b64urlEncode } from "./b64url.js";
import { CryptoError, MAX_EPOCH, READ_CAPABILITY_SIZE, READ_SECRET_SIZE, ROOM_ID_SIZE, RoomKeys, WRITE_SECRET_SIZE, ReadOnlyKeys } from "./keys.js";
import type { Bytes } from "./bytes.js";

export class LinkError extends CryptoError {
  override name = "LinkError";
}

export interface ParsedLink {
  serverBase: string; // scheme://host[:port][/prefix], no trailing slash
  room: string;
  keys: RoomKeys | null; // null: plaintext room
}

const ROOM_NAME = /^[A-Za-z0-9._-]{1,128}$/;
// urlsplit-like: no normalisation (the URL class would fold "/s/.." away).
const URL_PARTS = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)([^?#]*)(?:\?([^#]*))?(?:#(.*))?$/s;
const LINK_PATH = /^(.*)\/s\/([^/]*)\/?$/s;

export function validateRoomName(room: string): string {
  if (!ROOM_NAME.test(room)) throw new LinkError(`invalid room name ${JSON.stringify(room)}: use 1-128 characters of A-Z a-z 0-9 . _ -`);
  if (room === "." || room === "..") throw new LinkError(`invalid room name ${JSON.stringify(room)}: '.' and '..' are reserved`);
  return room;
}

export function normalizeServerBase(serverBase: string): string {
  const m = URL_PARTS.exec(serverBase);
  const scheme = m?.[1]?.toLowerCase();
  if (!m || (scheme !== "http" && scheme !== "https")) {
    throw new LinkError(`unknown scheme in ${JSON.stringify(serverBase)}: expected an http:// or https:// address`);
  }
  if (!m[2]) throw new LinkError(`no host in server address ${JSON.stringify(serverBase)}`);
  if (m[4] !== undefined || m[5] !== undefined) throw new LinkError(`server address ${JSON.stringify(serverBase)} must not have a query or fragment`);
  return `${scheme}://${m[2]}${m[3]!.replace(/\/+$/, "")}`;
}

export function writeLink(serverBase: string, keys: RoomKeys): string {
  if (!keys.writeSecret) throw new ReadOnlyKeys(`room ${keys.roomId}: read-only keys cannot make a write link`);
  return `${normalizeServerBase(serverBase)}/s/${keys.roomId}#k=${b64urlEncode(keys.writeSecret)}${epochPart(keys)}`;
}

/** A rotated room's links name their epoch (`&e=N`); epoch 0's look as they always did. */
function epochPart(keys: RoomKeys): string {
  return keys.epoch ? `&e=${keys.epoch}` : "";
}

export function readLink(serverBase: string, keys: RoomKeys): string {
  return `${normalizeServerBase(serverBase)}/s/${keys.roomId}#r=${b64urlEncode(keys.readCapability)}${epochPart(keys)}`;
}

export function plaintextLink(serverBase: string, room: string): string {
  return `${normalizeServerBase(serverBase)}/s/${validateRoomName(room)}`;
}

export function websocketUrl(serverBase: string, room: string): string {
  const base = normalizeServerBase(serverBase);
  const ws = base.startsWith("https:") ? "wss" + base.slice(5) : "ws" + base.slice(4);
  return `${ws}/ws/${validateRoomName(room)}`;
}

export async function parseLink(url: string): Promise<ParsedLink> {
  const m = URL_PARTS.exec(url.trim());
  const scheme = m?.[1]?.toLowerCase();
  if (!m || (scheme !== "http" && scheme !== "https")) {
    throw new LinkError("unknown link scheme: a collab link starts with http:// or https://");
  }
  if (!m[2]) throw new LinkError("the link has no host name");
  const path = LINK_PATH.exec(m[3]!);
  if (!path) throw new LinkError(`not a collab room link: the path ${JSON.stringify(m[3])} has no /s/<room> part`);
  const room = validateRoomName(path[2]!);
  const serverBase = `${scheme}://${m[2]}${path[1]}`;
  let fragment = m[5];
  if (!fragment) return { serverBase, room, keys: null };
  const amp = fragment.indexOf("&e=");
  if (amp >= 0) {
    const epochText = fragment.slice(amp + 3);
    fragment = fragment.slice(0, amp);
    return { serverBase, room, keys: await epochKeys(room, fragment, epochText) };
  }
  const eq = fragment.indexOf("=");
  const name = eq < 0 ? fragment : fragment.slice(0, eq);
  if (eq < 0 || (name !== "k" && name !== "r")) {
    throw new LinkError("unrecognised key in the link fragment: expected #k=<write secret> or #r=<read-only capability>");
  }
  let keys: RoomKeys;
  if (name === "k") {
    const secret = decodeKey(fragment.slice(eq + 1), "write secret (#k=)", WRITE_SECRET_SIZE);
    keys = (await RoomKeys.opening(room, { writeSecret: secret })) ?? (await RoomKeys.fromWriteSecret(secret));
  } else {
    const cap = decodeKey(fragment.slice(eq + 1), "read-only capability (#r=)", READ_CAPABILITY_SIZE);
    try {
      keys = (await RoomKeys.opening(room, { readCapability: cap })) ?? (await RoomKeys.fromReadCapability(cap.slice(0, READ_SECRET_SIZE), cap.slice(READ_SECRET_SIZE)));
    } catch (err) {
      throw new LinkError(`the read-only capability in the link is unusable: ${(err as Error).message}`);
    }
  }
  if (keys.roomId !== room) {
    throw new LinkError(
      `the room id in the link path (${room}) does not match the room its key opens (${keys.roomId}): the link was truncated or edited`,
    );
  }
  return { serverBase, room, keys };
}

/** `#k=<secret>&e=N` or `#r=<capability>&e=N`: keys of epoch N >= 1 (after a rotation); the room id
 * salts every key, so a link whose path names another room derives keys the hub refuses. */
async function epochKeys(room: string, fragment: string, epochText: string): Promise<RoomKeys> {
  if (!/^[1-9][0-9]*$/.test(epochText) || Number(epochText) > MAX_EPOCH) throw new LinkError("the link's key epoch (&e=) must be a whole number from 1");
  const epoch = Number(epochText);
  let roomId: Bytes;
  try {
    roomId = b64urlDecode(room);
  } catch {
    roomId = new Uint8Array(0);
  }
  if (roomId.length !== ROOM_ID_SIZE) throw new LinkError("a link with a key epoch names an encrypted room id (22 characters) in its path");
  if (fragment.startsWith("k=")) return RoomKeys.forEpoch(roomId, epoch, { writeSecret: decodeKey(fragment.slice(2), "write secret (#k=)", WRITE_SECRET_SIZE) });
  if (fragment.startsWith("r=")) {
    const cap = decodeKey(fragment.slice(2), "read-only capability (#r=)", READ_CAPABILITY_SIZE);
    try {
      return await RoomKeys.forEpoch(roomId, epoch, { readSecret: cap.slice(0, READ_SECRET_SIZE), writePublicKey: cap.slice(READ_SECRET_SIZE) });
    } catch (err) {
      throw new LinkError(`the read-only capability in the link is unusable: ${(err as Error).message}`);
    }
  }
  throw new LinkError("unrecognised key in the link fragment: expected #k=<write secret> or #r=<read-only capability>");
}

function decodeKey(text: string, what: string, size: number): Bytes {
  let raw: Bytes;
  try {
    raw = b64urlDecode(text);
  } catch (err) {
    throw new LinkError(`the ${what} in the link is not valid base64url: ${(err as Error).message}`);
  }
  if (raw.length !== size) throw new LinkError(`the ${what} in the link decodes to ${raw.length} bytes; expected ${size} (was the link cut short?)`);
  return raw;
}
