// What the session page says when an encrypted room's link lost its key on the way (a chat tool that
// cut the link at '#', a partial copy). Without this the page would open the room as plaintext and
// only learn from the hub's refusal that it is encrypted, behind a "Plaintext room" banner.
import { LinkError, parseLink, type ParsedLink } from "../crypto/links.js";
import { showProblem } from "./problem.js";

const ASK_FOR_IT = "The server never has the key, so it cannot supply it. Ask whoever shared the link to send the full link again, and open all of it.";
const CHECK_TIMEOUT_MS = 5000;

export function showMissingKey(root: HTMLElement): void {
  showProblem(
    root,
    "This link is missing its key",
    "This room is end-to-end encrypted. Its key is the part of the link after the #, and this link has none: it was probably cut off when the link was copied or pasted.",
    ASK_FOR_IT,
  );
}

/** A link that did not parse: a damaged key gets its own message, anything else the parser's. */
export async function showLinkError(root: HTMLElement, href: string, err: LinkError): Promise<void> {
  if (cutShort(href, err) && (await onlyTheKeyIsWrong(href))) {
    showProblem(
      root,
      "This link is incomplete: the end of its key is missing",
      "This room is end-to-end encrypted. Its key is the part of the link after the #, and only the start of it arrived: the link was cut off when it was copied or pasted.",
      ASK_FOR_IT,
    );
  } else if (await onlyTheKeyIsWrong(href)) {
    showProblem(
      root,
      "This link does not work: its key is damaged",
      "This room is end-to-end encrypted. Its key is the part of the link after the #, and that part did not arrive whole: it was probably cut short or changed when the link was copied.",
      ASK_FOR_IT,
      `Details: ${err.message}`,
    );
  } else {
    showProblem(root, "This link does not work", err.message, "Ask for the link again, and copy all of it: the part after # holds the key.");
  }
}

// A key that is most of a key, but whose decoding says it ends too soon (a length that cannot be,
// too few bytes, or leftover bits in a last character that was not the last): a link cut short.
const SHORT = /was the link cut short|is impossible \(truncated|stray bits|decodes to \d+ bytes/;

function cutShort(href: string, err: LinkError): boolean {
  const key = /#[kr]=([A-Za-z0-9_-]*)/.exec(href)?.[1] ?? "";
  return key.length >= 16 && SHORT.test(err.message);
}

async function onlyTheKeyIsWrong(href: string): Promise<boolean> {
  const hash = href.indexOf("#");
  if (hash < 0) return false;
  try {
    await parseLink(href.slice(0, hash));
    return true;
  } catch (err) {
    if (err instanceof LinkError) return false;
    throw err;
  }
}

/**
 * Whether the hub says this room is end-to-end encrypted, asked before anything else happens (no
 * name prompt, no editor, no local copy) for a link without a key. False when it cannot tell
 * (offline, no answer in time): the plaintext connection's refusal (close 4403) then says it.
 */
export async function hubSaysEncrypted(link: ParsedLink): Promise<boolean> {
  try {
    const response = await fetch(`${link.serverBase}/api/rooms/${link.room}`, { cache: "no-store", signal: AbortSignal.timeout(CHECK_TIMEOUT_MS) });
    if (!response.ok) return false;
    const info: unknown = await response.json();
    return typeof info === "object" && info !== null && (info as { kind?: unknown }).kind === "encrypted";
  } catch {
    return false;
  }
}
