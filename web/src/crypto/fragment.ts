// The link's key leaves the address bar once read (docs/e2ee.md "Links"): the page replaces its
// history entry with the address minus `#k=`/`#r=`, so the key is not on screen, in screenshots, in
// the tab's history entry or in what a "copy address" copies. This tab keeps the fragment in
// sessionStorage (per tab, gone when the tab is) under the room's path, so a reload still opens the
// room; the copy-link buttons build links from the keys, not from the address.

export interface FragmentStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

const PREFIX = "collab.link-key ";
const KEY_FRAGMENT = /^#[kr]=/;

/** `href`, or, when it has no key and this tab read one for the same room before, `href` with that key. */
export function withKeptFragment(href: string, store: FragmentStore): string {
  const url = new URL(href);
  if (KEY_FRAGMENT.test(url.hash)) return href;
  const kept = store.getItem(PREFIX + url.pathname);
  if (!kept || !KEY_FRAGMENT.test(kept)) return href;
  url.hash = kept;
  return url.href;
}

/** Keep the key of `href` for this tab and return the address to show instead (no fragment); null
 * when `href` carries no key (a plaintext room: nothing to hide). */
export function keepFragment(href: string, store: FragmentStore): string | null {
  const url = new URL(href);
  if (!KEY_FRAGMENT.test(url.hash)) return null;
  store.setItem(PREFIX + url.pathname, url.hash);
  url.hash = "";
  return url.href;
}

/** What the page runs once the link parsed: the key goes from the address bar to this tab's storage. */
export function stripKeyFromAddress(href: string): void {
  try {
    const bare = keepFragment(href, sessionStorage);
    if (bare !== null) history.replaceState(history.state, "", bare);
  } catch {
    // No sessionStorage (blocked by the browser's settings): leave the address alone, or a reload
    // would lose the key.
  }
}

/** The page's address with this tab's kept key put back (see withKeptFragment). */
export function addressWithKey(): string {
  try {
    return withKeptFragment(location.href, sessionStorage);
  } catch {
    return location.href;
  }
}
