// Inline completions, the typist's side of the protocol (docs/protocol.md, "Inline completions";
// the Python twin is collab/ai/inline_client.py): the request is a field of our presence, the
// agent's reply a field of its presence addressed to our client id, so nothing of either is in the
// shared document or stored by the hub, and in an encrypted room both are sealed like all presence.
import type { Awareness } from "y-protocols/awareness";

export const REQUEST = "inline";
export const REPLIES = "inline_replies";
export const ROOM_SETTING = "inline_completions";
export const PROVENANCE = "ai_assisted"; // root Y.Map: accepted completions, by request id
const HASH_BEFORE = 256;
const HASH_AFTER = 64;
const TOGGLE_KEY = "collab.inline";

export interface InlineRequest {
  id: string;
  file: string;
  at: number; // UTF-16 offset of the cursor
  n: number; // the file's length in UTF-16 units
  h: string; // FNV-1a of the units around the cursor
}

export interface InlineReply {
  id: string;
  text: string;
  done: boolean;
  model: string;
  error?: string;
  agent: number; // the agent's client id
}

/** FNV-1a (32 bits) of the UTF-16 units around `at`, as 8 hex digits (the same as window_hash in Python). */
export function windowHash(text: string, at: number): string {
  const lo = Math.max(0, at - HASH_BEFORE);
  const hi = Math.min(text.length, at + HASH_AFTER);
  let h = 0x811c9dc5;
  for (let i = lo; i < hi; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, "0");
}

export function requestFor(text: string, file: string, at: number): InlineRequest {
  const bytes = crypto.getRandomValues(new Uint8Array(9));
  const id = btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_");
  return { id, file, at, n: text.length, h: windowHash(text, at) };
}

/** The reply to our request `id` in any agent's presence; peers' replies are not ours to show. */
export function replyTo(awareness: Awareness, id: string): InlineReply | null {
  const me = String(awareness.clientID);
  for (const [clientId, state] of awareness.getStates()) {
    const replies = (state as Record<string, unknown>)[REPLIES];
    const reply = replies && typeof replies === "object" ? (replies as Record<string, unknown>)[me] : undefined;
    if (!reply || typeof reply !== "object") continue;
    const r = reply as Record<string, unknown>;
    if (r.id !== id || typeof r.text !== "string") continue;
    return { id, text: r.text.slice(0, 4000), done: r.done === true, model: String(r.model ?? "").slice(0, 128), error: typeof r.error === "string" ? r.error.slice(0, 300) : undefined, agent: clientId };
  }
  return null;
}

/** Is an agent that completes inline in the room (its presence says `agent.inline: true`)? */
export function inlineAgent(awareness: Awareness): { name: string; model: string } | null {
  for (const state of awareness.getStates().values()) {
    const agent = (state as { agent?: Record<string, unknown> }).agent;
    if (agent && typeof agent === "object" && agent.inline === true) return { name: String(agent.name ?? "ai").slice(0, 64), model: String(agent.model ?? "").slice(0, 128) };
  }
  return null;
}

/** The participant's own choice, kept in this browser: on unless turned off. */
export function userWantsInline(): boolean {
  try {
    return localStorage.getItem(TOGGLE_KEY) !== "off";
  } catch {
    return true;
  }
}

export function setUserWantsInline(on: boolean): void {
  try {
    localStorage.setItem(TOGGLE_KEY, on ? "on" : "off");
  } catch {
    // storage blocked: the choice lasts for this page only
  }
}

/**
 * How long a pause asks for a completion: adaptive (Tabby's idea), from the typist's own rhythm.
 * 2.5 times the typical gap between keystrokes, within 200-600 ms; 300 ms (Zed, Continue's 350)
 * until there is a rhythm to go by.
 */
export class AdaptiveDebounce {
  private gap = 0;
  private last = 0;

  keystroke(now: number): void {
    const gap = now - this.last;
    this.last = now;
    if (gap <= 0 || gap > 1500) return; // a pause, not a rhythm
    this.gap = this.gap ? this.gap * 0.8 + gap * 0.2 : gap;
  }

  delay(): number {
    return this.gap ? Math.min(600, Math.max(200, Math.round(this.gap * 2.5))) : 300;
  }
}
