// Inline completions, the typist's side of the protocol (docs/protocol.md, "Inline completions";
// the Python twin is collab/ai/inline_client.py): the request is a field of our presence, the
// agent's reply a direct message to us alone (transport/types.ts, DirectMessages), so nothing of
// either is in the shared document or stored by the hub, no other participant receives our
// completion, and in an encrypted room both are sealed with the room's awareness key.
import type { Awareness } from "y-protocols/awareness";
import type { DirectMessage } from "../protocol/direct.js";

export const REQUEST = "inline";
export const REPLY = "inline_reply"; // the field of a direct message from the agent
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

const MAX_TEXT = 2000; // the agent sends at most this much (docs/protocol.md)
const MAX_KEPT = 32; // requests whose latest reply is kept (we have one open at a time)

/** Does this presence state say its participant completes inline (`agent.inline: true`)? */
function completesInline(state: unknown): state is { agent: Record<string, unknown> } {
  const agent = (state as { agent?: unknown } | null | undefined)?.agent;
  return !!agent && typeof agent === "object" && (agent as Record<string, unknown>).inline === true;
}

/**
 * The inline reply a direct message from `from` carries; null when it carries none, or when `from`
 * is not an agent that completes inline by its presence (anyone can send us a direct message).
 * Every field is checked and cut to size: the text is shown as text, never parsed as markup.
 */
export function readInlineReply(awareness: Awareness, from: number, message: DirectMessage): InlineReply | null {
  const r = message[REPLY];
  if (!r || typeof r !== "object" || Array.isArray(r)) return null;
  if (!completesInline(awareness.getStates().get(from))) return null;
  const { id, text, done, model, error } = r as Record<string, unknown>;
  if (typeof id !== "string" || !id || id.length > 64 || typeof text !== "string") return null;
  return { id, text: text.slice(0, MAX_TEXT), done: done === true, model: typeof model === "string" ? model.slice(0, 128) : "", error: typeof error === "string" ? error.slice(0, 300) : undefined, agent: from };
}

/**
 * The replies direct messages brought, the latest per request id: the agent sends the whole text so
 * far each time, and the hub relays only the latest of a burst, so each one replaces the last.
 */
export class InlineReplies {
  private readonly latest = new Map<string, InlineReply>();

  constructor(private readonly awareness: Awareness, private readonly keep = MAX_KEPT) {}

  /** Take in a direct message; the reply it carried, or null when it was none of ours to show. */
  receive(from: number, message: DirectMessage): InlineReply | null {
    const reply = readInlineReply(this.awareness, from, message);
    if (!reply) return null;
    this.latest.delete(reply.id);
    this.latest.set(reply.id, reply);
    if (this.latest.size > this.keep) this.latest.delete(this.latest.keys().next().value!);
    return reply;
  }

  /** The latest reply to our request `id`, if any came. */
  replyTo(id: string): InlineReply | null {
    return this.latest.get(id) ?? null;
  }

  /** A request withdrawn: what came for it is of no more use. */
  forget(id: string): void {
    this.latest.delete(id);
  }
}

/** Is an agent that completes inline in the room (its presence says `agent.inline: true`)? */
export function inlineAgent(awareness: Awareness): { name: string; model: string } | null {
  for (const state of awareness.getStates().values()) {
    if (completesInline(state)) return { name: String(state.agent.name ?? "ai").slice(0, 64), model: String(state.agent.model ?? "").slice(0, 128) };
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
