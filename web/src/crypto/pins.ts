// Agent keys pinned on first use (docs/e2ee.md "Pinned agents"): the first key this browser profile
// seals to for an agent name on a hub is remembered; a different key later is a warning the person
// must explicitly get past, never a silent re-seal. Pure logic over a Storage (localStorage in the page).

export interface Pin {
  key: string; // b64url X25519 public key
  fingerprint: string;
  since: number; // ms since the epoch, when first pinned
}

export type PinCheck = { state: "new" } | { state: "same"; pin: Pin } | { state: "changed"; pin: Pin };

export interface PinStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

export const PINS_KEY = "collab.agent-pins.v1";

/** Pins of one hub (its base address: origin and path prefix), by agent name. */
export class AgentPins {
  constructor(private readonly store: PinStorage, private readonly hub: string) {}

  private all(): Record<string, Pin> {
    try {
      const data = JSON.parse(this.store.getItem(PINS_KEY) ?? "{}") as unknown;
      return typeof data === "object" && data !== null && !Array.isArray(data) ? (data as Record<string, Pin>) : {};
    } catch {
      return {};
    }
  }

  private id(name: string): string {
    return `${this.hub} ${name}`;
  }

  get(name: string): Pin | null {
    const pin = this.all()[this.id(name)];
    return pin && typeof pin.key === "string" && typeof pin.fingerprint === "string" ? pin : null;
  }

  check(name: string, key: string): PinCheck {
    const pin = this.get(name);
    if (!pin) return { state: "new" };
    return pin.key === key ? { state: "same", pin } : { state: "changed", pin };
  }

  /** Remember `key` for `name` (first use, or a change the person confirmed). */
  pin(name: string, key: string, fingerprint: string, now = Date.now()): Pin {
    const all = this.all();
    const pin = { key, fingerprint, since: now };
    all[this.id(name)] = pin;
    this.store.setItem(PINS_KEY, JSON.stringify(all));
    return pin;
  }
}
