// base64url without padding (RFC 4648 §5), decoded strictly so that every byte string has
// exactly one text form (same rules as collab.crypto.keys.b64url_decode).
import { bytes, type Bytes } from "./bytes.js";

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

export function b64urlEncode(data: ArrayLike<number>): string {
  let out = "";
  let i = 0;
  for (; i + 2 < data.length; i += 3) {
    const n = (data[i]! << 16) | (data[i + 1]! << 8) | data[i + 2]!;
    out += ALPHABET[n >> 18]! + ALPHABET[(n >> 12) & 63]! + ALPHABET[(n >> 6) & 63]! + ALPHABET[n & 63]!;
  }
  const rest = data.length - i;
  if (rest === 1) {
    const n = data[i]! << 16;
    out += ALPHABET[n >> 18]! + ALPHABET[(n >> 12) & 63]!;
  } else if (rest === 2) {
    const n = (data[i]! << 16) | (data[i + 1]! << 8);
    out += ALPHABET[n >> 18]! + ALPHABET[(n >> 12) & 63]! + ALPHABET[(n >> 6) & 63]!;
  }
  return out;
}

export function b64urlDecode(text: string): Bytes {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) {
    throw new Error("not base64url: only A-Z a-z 0-9 - _ are allowed, without '=' padding");
  }
  if (text.length % 4 === 1) throw new Error(`base64url text of length ${text.length} is impossible (truncated?)`);
  const out: number[] = [];
  let acc = 0;
  let bits = 0;
  for (const ch of text) {
    acc = (acc << 6) | ALPHABET.indexOf(ch);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push((acc >> bits) & 0xff);
    }
    acc &= (1 << bits) - 1;
  }
  if (acc !== 0) throw new Error("non-canonical base64url: the last character carries stray bits");
  return bytes(out);
}
