// What this browser can do: E2EE needs a secure context and WebCrypto with Ed25519.

export interface Support {
  ok: boolean;
  problems: string[];
}

export const SECURE_CONTEXT_HELP =
  "End-to-end encryption needs WebCrypto, which browsers only offer in a secure context: " +
  "open the hub over https:// (the docker compose setup terminates TLS for you), or as http://localhost " +
  "on the machine that runs it (for a LAN, put a TLS proxy such as Caddy in front, or use an SSH tunnel: " +
  "ssh -L 8000:localhost:8000 host, then open http://localhost:8000).";

export async function checkSupport(): Promise<Support> {
  const problems: string[] = [];
  if (!globalThis.isSecureContext || !globalThis.crypto?.subtle) {
    problems.push(`This page is not in a secure context (${location.protocol}//${location.host}), so crypto.subtle is missing.`);
    return { ok: false, problems };
  }
  const subtle = crypto.subtle;
  const probe = async (what: string, fn: () => Promise<unknown>) => {
    try {
      await fn();
    } catch {
      problems.push(`This browser's WebCrypto has no ${what}.`);
    }
  };
  await probe("Ed25519 (signatures)", () => subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]));
  await probe("AES-GCM", () => subtle.generateKey({ name: "AES-GCM", length: 256 }, false, ["encrypt"]));
  await probe("HKDF", () => subtle.importKey("raw", new Uint8Array(32), "HKDF", false, ["deriveBits"]));
  return { ok: problems.length === 0, problems };
}

/** X25519 is not used by protocol v1; reported for completeness (future key agreement). */
export async function hasX25519(): Promise<boolean> {
  try {
    await crypto.subtle.generateKey({ name: "X25519" }, false, ["deriveBits"]);
    return true;
  } catch {
    return false;
  }
}
