// Who I am in presence: a display name asked once and a colour, remembered in localStorage.
import type { Awareness } from "y-protocols/awareness";
import { Listeners } from "./listeners.js";

const NAME_KEY = "collab.name";
const COLOR_KEY = "collab.color";

// Dark enough for white name labels (WCAG AA, >= 4.5:1 on white text) and visible on white.
export const PALETTE = ["#1f5fad", "#b02a37", "#1b7340", "#8a4baf", "#9c4a00", "#006d77", "#a4286a", "#5a5a00"];

export interface Identity {
  name: string;
  color: string;
  colorLight: string;
}

export function storedName(): string | null {
  try {
    return localStorage.getItem(NAME_KEY)?.trim() || null;
  } catch {
    return null;
  }
}

export function rememberName(name: string): string {
  const clean = name.trim().slice(0, 64);
  if (!clean) throw new Error("a display name cannot be empty");
  try {
    localStorage.setItem(NAME_KEY, clean);
  } catch {
    // Private mode: the name lasts for this page only.
  }
  return clean;
}

export function identity(name: string): Identity {
  let color: string | null = null;
  try {
    color = localStorage.getItem(COLOR_KEY);
    if (!color || !PALETTE.includes(color)) {
      color = PALETTE[crypto.getRandomValues(new Uint8Array(1))[0]! % PALETTE.length]!;
      localStorage.setItem(COLOR_KEY, color);
    }
  } catch {
    color = PALETTE[0]!;
  }
  return { name, color, colorLight: `${color}33` };
}

/** Who I am in this session: the name others see, published in presence; renaming republishes it. */
export class Me {
  readonly renamed = new Listeners<[string]>();

  constructor(private readonly awareness: Awareness, public name: string) {
    awareness.setLocalStateField("user", identity(name));
  }

  rename(next: string): void {
    this.name = rememberName(next);
    this.awareness.setLocalStateField("user", identity(this.name));
    this.renamed.emit(this.name);
  }
}
