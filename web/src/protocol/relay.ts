// The encrypted relay protocol's frames (docs/protocol.md, subprotocol "collab-e2ee.v1").
// Pure encoding and decoding; every frame is binary: one type byte, then big-endian fields.
// Connection ids are random 64-bit values, so they are bigints; sequence numbers stay numbers
// (exact up to 2**53, far beyond any room's history).
import { bytes, concat, readU64, u64, type Bytes } from "../crypto/bytes.js";

export const SUBPROTOCOL = "collab-e2ee.v1";

export const Frame = {
  CHALLENGE: 0x01,
  READY: 0x02,
  ENTRY: 0x03,
  ACK: 0x04,
  NACK: 0x05,
  AWARENESS: 0x06,
  SYNCED: 0x07,
  LEFT: 0x08,
  ROTATED: 0x09, // the room's latest rotation envelope (web/src/crypto/epochs.ts)
  DIRECT_RELAY: 0x0a, // a direct message for us, from connection connId (web/src/protocol/direct.ts)
  HELLO: 0x11,
  PUBLISH: 0x12,
  SNAPSHOT: 0x13,
  CLIENT_AWARENESS: 0x14,
  ROTATE: 0x16,
  DIRECT: 0x17, // a direct message for connection connId only
} as const;

// Close code: an encrypted room moved to new keys; reconnect (a ROTATED frame carries them).
export const KEYS_ROTATED = 4410;

export const Nack = { STORE_UNAVAILABLE: 1, FORBIDDEN: 2, INVALID: 3, SNAPSHOT_CONFLICT: 4 } as const;

export const Role = { READER: 0, WRITER: 1 } as const;

export type HubFrame =
  | { type: typeof Frame.CHALLENGE; challenge: Bytes; head: number }
  | { type: typeof Frame.READY; role: number; connId: bigint }
  | { type: typeof Frame.ENTRY; seq: number; envelope: Bytes }
  | { type: typeof Frame.ACK; clientRef: number; seq: number }
  | { type: typeof Frame.NACK; clientRef: number; code: number; reason: string }
  | { type: typeof Frame.AWARENESS; connId: bigint; envelope: Bytes }
  | { type: typeof Frame.SYNCED; head: number }
  | { type: typeof Frame.LEFT; connId: bigint }
  | { type: typeof Frame.ROTATED; envelope: Bytes }
  | { type: typeof Frame.DIRECT_RELAY; connId: bigint; envelope: Bytes };

export class RelayProtocolError extends Error {
  override name = "RelayProtocolError";
}

export function parseHubFrame(input: ArrayBuffer | Uint8Array): HubFrame {
  const data = bytes(input instanceof ArrayBuffer ? new Uint8Array(input) : input);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const need = (n: number) => {
    if (data.length < n) throw new RelayProtocolError(`frame 0x${data[0]?.toString(16)} is truncated (${data.length} bytes)`);
  };
  const exact = (n: number) => {
    need(n);
    if (data.length !== n) throw new RelayProtocolError(`frame 0x${data[0]!.toString(16)} has ${data.length - n} trailing bytes`);
  };
  need(1);
  switch (data[0]) {
    case Frame.CHALLENGE:
      exact(41);
      return { type: Frame.CHALLENGE, challenge: data.slice(1, 33), head: readU64(view, 33) };
    case Frame.READY:
      exact(10);
      return { type: Frame.READY, role: data[1]!, connId: view.getBigUint64(2) };
    case Frame.ENTRY:
      need(10);
      return { type: Frame.ENTRY, seq: readU64(view, 1), envelope: data.slice(9) };
    case Frame.ACK:
      exact(17);
      return { type: Frame.ACK, clientRef: readU64(view, 1), seq: readU64(view, 9) };
    case Frame.NACK:
      need(11);
      return {
        type: Frame.NACK,
        clientRef: readU64(view, 1),
        code: view.getUint16(9),
        reason: new TextDecoder().decode(data.subarray(11)),
      };
    case Frame.AWARENESS:
      need(10);
      return { type: Frame.AWARENESS, connId: view.getBigUint64(1), envelope: data.slice(9) };
    case Frame.SYNCED:
      exact(9);
      return { type: Frame.SYNCED, head: readU64(view, 1) };
    case Frame.LEFT:
      exact(9);
      return { type: Frame.LEFT, connId: view.getBigUint64(1) };
    case Frame.DIRECT_RELAY:
      need(10);
      return { type: Frame.DIRECT_RELAY, connId: view.getBigUint64(1), envelope: data.slice(9) };
    case Frame.ROTATED:
      need(2);
      return { type: Frame.ROTATED, envelope: data.slice(1) };
    default:
      throw new RelayProtocolError(`unknown frame type 0x${data[0]!.toString(16)}`);
  }
}

export function hello(role: number, since: number, signature: Uint8Array | null): Bytes {
  return concat([Frame.HELLO, role], u64(since), signature ?? new Uint8Array(0));
}

export function publish(clientRef: number, envelope: Uint8Array): Bytes {
  return concat([Frame.PUBLISH], u64(clientRef), envelope);
}

export function snapshot(clientRef: number, envelope: Uint8Array): Bytes {
  return concat([Frame.SNAPSHOT], u64(clientRef), envelope);
}

export function rotate(clientRef: number, envelope: Uint8Array): Bytes {
  return concat([Frame.ROTATE], u64(clientRef), envelope);
}

export function awareness(envelope: Uint8Array): Bytes {
  return concat([Frame.CLIENT_AWARENESS], envelope);
}

/** A direct message for the connection `connId`: the envelope is an awareness envelope. */
export function direct(connId: bigint, envelope: Uint8Array): Bytes {
  if (connId < 0n || connId >= 1n << 64n) throw new RangeError(`connection id ${connId} is not a u64`);
  const id = new Uint8Array(8);
  new DataView(id.buffer).setBigUint64(0, connId);
  return concat([Frame.DIRECT], id, envelope);
}
