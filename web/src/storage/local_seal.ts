// The keys this browser's copy of an encrypted room is sealed under (docs/e2ee.md "What the browser
// keeps"). A write link's copy is sealed under the writer's local key; until commit ca658b6 it was
// sealed under the read secret's local key, so a writer's page still opens a copy sealed that way
// (it may hold edits the hub never got: dropping it would lose them) and the next save re-seals it.
import { bytes, concat, randomBytes, type Bytes } from "../crypto/bytes.js";
import { hkdfSha256, LOCAL_STORE_INFO, localStoreKey, type RoomKeys } from "../crypto/keys.js";

const NONCE_BYTES = 12;

export interface Opened {
  payload: Uint8Array;
  /** Sealed under the read secret's key, as write links' copies were before: re-seal it. */
  legacy: boolean;
}

export class LocalSeal {
  private constructor(
    private readonly key: CryptoKey,
    private readonly legacy: CryptoKey | null,
  ) {}

  static async of(keys: RoomKeys): Promise<LocalSeal> {
    const legacy = keys.writeSecret ? await aesKey(await hkdfSha256(keys.readSecret, LOCAL_STORE_INFO, 32)) : null;
    return new LocalSeal(await localStoreKey(keys), legacy);
  }

  /** Always under the current key: a copy opened under the legacy one is re-sealed by its next save. */
  async seal(payload: Uint8Array, aad: Bytes): Promise<Uint8Array> {
    const nonce = randomBytes(NONCE_BYTES);
    const sealed = await crypto.subtle.encrypt({ name: "AES-GCM", iv: nonce, additionalData: aad }, this.key, bytes(payload));
    return concat(nonce, bytes(sealed));
  }

  /** Throws when neither key opens it (the page then drops the copy). */
  async open(blob: Uint8Array, aad: Bytes): Promise<Opened> {
    try {
      return { payload: await decrypt(this.key, blob, aad), legacy: false };
    } catch (err) {
      if (!this.legacy) throw err;
    }
    return { payload: await decrypt(this.legacy, blob, aad), legacy: true };
  }
}

async function decrypt(key: CryptoKey, blob: Uint8Array, aad: Bytes): Promise<Uint8Array> {
  const iv = bytes(blob.subarray(0, NONCE_BYTES));
  return new Uint8Array(await crypto.subtle.decrypt({ name: "AES-GCM", iv, additionalData: aad }, key, bytes(blob.subarray(NONCE_BYTES))));
}

function aesKey(raw: Bytes): Promise<CryptoKey> {
  return crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]);
}
