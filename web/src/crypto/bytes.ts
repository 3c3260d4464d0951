// Byte helpers shared by the crypto and wire modules. WebCrypto wants ArrayBuffer-backed views,
// so every helper here returns exactly that type.

export type Bytes = Uint8Array<ArrayBuffer>;

export function bytes(data: ArrayLike<number> | ArrayBufferLike | number): Bytes {
  if (typeof data === "number") return new Uint8Array(data);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  const out = new Uint8Array((data as ArrayLike<number>).length);
  out.set(data as ArrayLike<number>);
  return out;
}

export function concat(...parts: ArrayLike<number>[]): Bytes {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

export function equal(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function toHex(data: ArrayLike<number>): string {
  return Array.from(data, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function fromHex(hex: string): Bytes {
  if (hex.length % 2 || /[^0-9a-fA-F]/.test(hex)) throw new Error("not hex");
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export const utf8 = (text: string): Bytes => bytes(new TextEncoder().encode(text));

export function randomBytes(n: number): Bytes {
  return crypto.getRandomValues(new Uint8Array(n));
}

// Big-endian unsigned integers. Sequence numbers are u64 on the wire; JavaScript numbers hold
// them exactly up to 2**53, which no room reaches, so we refuse anything larger instead of
// silently rounding.
export function writeU64(view: DataView, pos: number, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`u64 out of range: ${value}`);
  view.setUint32(pos, Math.floor(value / 2 ** 32));
  view.setUint32(pos + 4, value >>> 0);
}

export function readU64(view: DataView, pos: number): number {
  const value = view.getUint32(pos) * 2 ** 32 + view.getUint32(pos + 4);
  if (!Number.isSafeInteger(value)) throw new RangeError("u64 above 2**53 is not supported");
  return value;
}

export function u64(value: number): Bytes {
  const out = new Uint8Array(8);
  writeU64(new DataView(out.buffer), 0, value);
  return out;
}
