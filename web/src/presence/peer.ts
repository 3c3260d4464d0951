// A peer's presence state, read defensively (issue 13, finding 7; collab/protocol/presence.py is
// the Python twin). Anyone who can join a room can write their own state: a read-only member, and
// in a plaintext room anyone. y-codemirror.next pastes `user.color` into a style attribute, so a
// colour of "red;position:fixed;inset:0;…" covered everyone's page with a fake notice. Every
// state from a peer is parsed here once, as it arrives (presence/update.ts), into the fields the
// page renders, and every place that shows a colour or a name goes through presenceColor /
// presenceName.

// Same limits as the Python clients: our own state is ~300 bytes, 4 levels deep.
export const MAX_STATE_BYTES = 64 * 1024;
export const MAX_DEPTH = 32;
/** What a peer whose colour is not a plain hex colour is drawn in (white labels on it: 7.5:1). */
export const FALLBACK_COLOR = "#555555";
const MAX_NAME = 64;
const MAX_FILE = 1024; // collab.workspace's path limit, in bytes (UTF-16 units are never more)
const HEX_COLOR = /^#(?:[0-9a-f]{3}){1,2}$/i;
// Control characters, and invisible or direction-changing ones a name could hide behind.
const HIDDEN = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff]/g;

export type PeerState = Record<string, unknown>;

/** `#rgb` or `#rrggbb`, as `#rrggbb`; anything else is FALLBACK_COLOR. */
export function presenceColor(value: unknown): string {
  if (typeof value !== "string" || !HEX_COLOR.test(value)) return FALLBACK_COLOR;
  const hex = value.slice(1).toLowerCase();
  return hex.length === 3 ? `#${[...hex].map((c) => c + c).join("")}` : `#${hex}`;
}

/** A display name: visible characters only, at most 64 of them; null when nothing is left. */
export function presenceName(value: unknown): string | null {
  if (typeof value !== "string") return null;
  return value.replace(HIDDEN, "").trim().slice(0, MAX_NAME) || null;
}

/** How deeply arrays and objects nest in JSON `text`, by a scan that does not recurse. */
export function nestingDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) deepest = Math.max(deepest, ++depth);
    else if (c === 0x7d || c === 0x5d) depth--;
  }
  return deepest;
}

/** A peer's state from its JSON bytes: the object, null for a peer that left, undefined when refused. */
export function parsePeerState(raw: Uint8Array): PeerState | null | undefined {
  if (raw.length > MAX_STATE_BYTES) return undefined;
  let state: unknown;
  try {
    const text = new TextDecoder("utf-8", { fatal: true }).decode(raw);
    if (nestingDepth(text) > MAX_DEPTH) return undefined;
    state = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (state === null) return null;
  if (typeof state !== "object" || Array.isArray(state)) return undefined;
  return normalize(state as PeerState);
}

/** The fields the page renders, checked; the rest of the state is kept as the peer wrote it. */
function normalize(state: PeerState): PeerState {
  const out: PeerState = { ...state };
  if ("user" in state) {
    const user = state.user as { name?: unknown; color?: unknown } | null;
    const name = presenceName(user?.name);
    if (name === null) delete out.user;
    else {
      const color = presenceColor(user?.color);
      // The selection tint is derived, never taken: it is pasted into a style attribute as well.
      out.user = { name, color, colorLight: `${color}33` };
    }
  }
  if ("file" in state) out.file = typeof state.file === "string" && state.file.length <= MAX_FILE ? state.file : null;
  if ("cursor" in state) out.cursor = cursor(state.cursor);
  // What kind of participant it says it is (people.ts marks viewers and folder mirrors); display only.
  if ("kind" in state) out.kind = state.kind === "viewer" || state.kind === "mirror" ? state.kind : null;
  return out;
}

type Id = { client: number; clock: number };
type Position = { type: Id | null; tname: null; item: Id | null; assoc: number };
const uint = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0;

/** `{client, clock}`; undefined when absent, null when malformed. */
function id(value: unknown): Id | null | undefined {
  if (value == null) return undefined;
  const { client, clock } = value as Partial<Record<keyof Id, unknown>>;
  return uint(client) && uint(clock) ? { client, clock } : null;
}

/**
 * A relative position's JSON into a nested Y.Text (docs/workspace.md), or null; with all four
 * fields, null where unused: y-codemirror.next hands it to Yjs as it is, and Yjs takes a missing
 * `item` for one that is there.
 */
function position(value: unknown): Position | null {
  const { type, item, tname, assoc = 0 } = (value ?? {}) as Record<string, unknown>;
  const t = id(type);
  const i = id(item);
  // An item (a character), or only the type for the end of a text; a root type by name (tname)
  // is never where our files are, and Y.Doc.get() would create one.
  if (t === null || i === null || !(t || i) || tname != null || !Number.isSafeInteger(assoc)) return null;
  return { type: t ?? null, tname: null, item: i ?? null, assoc: assoc as number };
}

function cursor(value: unknown): { anchor: Position; head: Position } | null {
  const { anchor, head } = (value ?? {}) as Record<string, unknown>;
  const a = position(anchor);
  const h = position(head);
  return a && h ? { anchor: a, head: h } : null;
}
