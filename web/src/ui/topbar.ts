// The session page's top bar: what kind of room this is, the connection status, the links to
// share, the name others see, and forgetting this browser's copy of the room.
import { readLink, writeLink, type ParsedLink } from "../crypto/links.js";
import type { Me } from "../identity.js";
import type { LocalCopy } from "../storage/local.js";
import type { Transport } from "../transport/types.js";
import { ask } from "./dialog.js";
import { h } from "./dom.js";
import type { Say } from "./notice.js";
import { homeHref } from "./problem.js";
import { StatusLine } from "./status.js";

export interface TopBarParts {
  link: ParsedLink;
  transport: Transport;
  local: LocalCopy | null;
  me: Me;
  say: Say;
}

export function topBar({ link, transport, local, me, say }: TopBarParts): HTMLElement {
  const kind = !link.keys ? "Plaintext room: the server can read it" : transport.canWrite ? "End-to-end encrypted" : "End-to-end encrypted, read-only";
  const linkField = h("input", { id: "share-link", type: "text", readonly: true, "aria-label": "Link to share", placeholder: "Copy a link to show it here" });
  const copy = async (text: string, what: string): Promise<void> => {
    linkField.value = text;
    try {
      await navigator.clipboard.writeText(text);
      say(`${what} copied to the clipboard`);
    } catch {
      linkField.focus();
      linkField.select();
      say(`${what} is in the field: copy it with Ctrl+C`);
    }
  };
  const invite = h("button", { type: "button", id: "copy-invite" }, "Copy invite link");
  const readOnly = h("button", { type: "button", id: "copy-readonly", class: "secondary", disabled: !link.keys, title: link.keys ? undefined : "Plaintext rooms have no read-only links" }, "Copy read-only link");
  const rename = h("button", { type: "button", id: "change-name", class: "secondary" }, `You: ${me.name}`);
  const forget = h("button", { type: "button", id: "forget-local", class: "secondary", disabled: !local, title: "Delete what this browser keeps of this room (its offline copy, the file you were in) and your name" }, "Forget on this device");
  const leave = h("button", { type: "button", id: "leave-session", class: "secondary", title: "Leave this session: the others see you go" }, "Leave session");
  leave.addEventListener("click", () => {
    local?.saveNow();
    transport.destroy();
    location.assign(homeHref());
  });
  invite.addEventListener("click", () => void copy(inviteLink(link), "Invite link"));
  readOnly.addEventListener("click", () => void copy(readLink(link.serverBase, link.keys!), "Read-only link"));
  rename.addEventListener("click", async () => {
    const next = await ask({ title: "Your name", label: "Your name, as others will see it", value: me.name, submit: "Save" });
    if (next) me.rename(next);
  });
  me.renamed.add((name) => (rename.textContent = `You: ${name}`));
  forget.addEventListener("click", () => void forgetLocal(forget, local, transport, say, link.room));
  return h(
    "header",
    { class: "topbar" },
    h("h1", {}, h("a", { href: homeHref(), "aria-label": "collab home" }, "collab")),
    h("span", { class: `badge ${link.keys ? "e2ee" : "plain"}` }, kind),
    new StatusLine(transport, local).el,
    h("div", { class: "row links" }, invite, readOnly, linkField),
    rename,
    forget,
    leave,
  );
}

function inviteLink({ keys, serverBase, room }: ParsedLink): string {
  if (!keys) return `${serverBase}/s/${room}`;
  return keys.canWrite ? writeLink(serverBase, keys) : readLink(serverBase, keys);
}

const FORGOTTEN = "collab.forgotten ";

/** Whether this tab was told to forget `room`: its reloads keep no copy of it. */
export function forgottenHere(room: string): boolean {
  try {
    return sessionStorage.getItem(FORGOTTEN + room) === "1";
  } catch {
    return false;
  }
}

async function forgetLocal(button: HTMLButtonElement, local: LocalCopy | null, transport: Transport, say: Say, room: string): Promise<void> {
  if (!local) return;
  button.disabled = true;
  try {
    await local.forget();
  } catch (err) {
    button.disabled = false;
    say(`Could not delete this browser's copy of the room: ${(err as Error).message}`);
    return;
  }
  try {
    // A reload of this tab must not quietly keep a new copy, and the name goes too: this device
    // keeps nothing of you or the room (the name stays on this page until it closes).
    sessionStorage.setItem(FORGOTTEN + room, "1");
    sessionStorage.removeItem(`collab.file ${room}`);
    localStorage.removeItem(`collab.file ${room}`);
    localStorage.removeItem("collab.name");
    localStorage.removeItem("collab.color");
  } catch {
    // Storage blocked: there was nothing kept there either.
  }
  const pending = transport.pending;
  say(
    "This browser no longer keeps a copy of this room or your name, and a reload of this tab keeps none either; opening the link in a new tab starts a new copy." +
      (pending ? ` ${pending} edit${pending === 1 ? "" : "s"} not sent yet are lost if you close this tab before you are back online.` : ""),
  );
}
