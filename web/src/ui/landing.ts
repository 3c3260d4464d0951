// The landing page (/): start a new session, encrypted unless asked otherwise.
import { b64urlEncode } from "../crypto/b64url.js";
import { generateWriteSecret, RoomKeys } from "../crypto/keys.js";
import { writeLink } from "../crypto/links.js";
import { rememberName, storedName } from "../identity.js";
import { checkSupport, hasX25519, SECURE_CONTEXT_HELP } from "../support.js";
import { h } from "./dom.js";

/** scheme://host[/prefix] of this hub, from the landing page's own address. */
function serverBase(): string {
  return `${location.origin}${location.pathname.replace(/\/[^/]*$/, "")}`;
}

async function createRoom(body: object): Promise<{ room: string }> {
  const response = await fetch(`${serverBase()}/api/rooms`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(answer.error ?? `the hub answered ${response.status}`);
  return answer;
}

export async function startLanding(root: HTMLElement): Promise<void> {
  const support = await checkSupport();
  const name = h("input", { id: "name", name: "name", type: "text", required: true, autocomplete: "nickname", maxlength: 64, value: storedName() ?? "" });
  const plaintext = h("input", { id: "plaintext", name: "plaintext", type: "checkbox", "aria-describedby": "plaintext-help", checked: !support.ok });
  const start = h("button", { type: "submit", id: "start" }, "Start a session");
  const error = h("p", { id: "start-error", class: "error", role: "alert" });
  const form = h(
    "form",
    { class: "card", "aria-labelledby": "start-heading" },
    h("h2", { id: "start-heading" }, "Start a session"),
    h("label", { for: "name" }, "Your name, as others will see it"),
    name,
    h("div", { class: "check" }, plaintext, h("label", { for: "plaintext" }, "Plaintext room (not end-to-end encrypted)")),
    h(
      "p",
      { id: "plaintext-help", class: "muted small" },
      "Encrypted rooms keep the key in the link, after the #: the server stores only ciphertext. Plaintext rooms speak the standard y-websocket protocol, so any Yjs client can join, and the server can read them.",
    ),
    start,
    error,
  );
  const notices: HTMLElement[] = [];
  if (!support.ok) {
    plaintext.disabled = true;
    notices.push(
      h(
        "div",
        { class: "problem", role: "alert", id: "secure-context" },
        h("h2", {}, "End-to-end encryption is not available here"),
        ...support.problems.map((p) => h("p", {}, p)),
        h("p", {}, SECURE_CONTEXT_HELP),
        h("p", {}, "You can still start a plaintext room."),
      ),
    );
  } else if (!(await hasX25519())) {
    notices.push(h("p", { class: "muted small" }, "Note: this browser's WebCrypto lacks X25519; collab v1 does not need it."));
  }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    start.disabled = true;
    try {
      rememberName(name.value);
      if (plaintext.checked) {
        const { room } = await createRoom({ kind: "plaintext" });
        location.assign(`${serverBase()}/s/${room}`);
      } else {
        const keys = await RoomKeys.fromWriteSecret(generateWriteSecret(), true); // the room id binds the write key
        await createRoom({
          kind: "encrypted",
          room: keys.roomId,
          write_key: b64urlEncode(keys.writePublicKey),
          read_key: b64urlEncode(keys.readerPublicKey),
        });
        location.assign(writeLink(serverBase(), keys));
      }
    } catch (err) {
      error.textContent = `Could not start a session: ${(err as Error).message}`;
      start.disabled = false;
    }
  });
  root.replaceChildren(
    h(
      "main",
      { class: "landing" },
      h("h1", {}, "collab"),
      h("p", { class: "lead" }, "Pair-program live with teammates and an AI: shared files, cursors and chat, end-to-end encrypted."),
      ...notices,
      form,
    ),
  );
}
