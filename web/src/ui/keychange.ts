// The loud warning for an agent whose key differs from the one this browser pinned (docs/e2ee.md
// "Pinned agents"): both fingerprints side by side, and sealing to the new key only after the person
// ticks that they compared it with what the agent's operator printed. Cancel is the default.
import { h } from "./dom.js";

export function confirmKeyChange(name: string, pinned: string, listed: string, since: number): Promise<boolean> {
  return new Promise((resolve) => {
    const compared = h("input", { type: "checkbox", id: "keychange-compared" });
    const seal = h("button", { type: "submit", class: "danger", id: "keychange-seal", disabled: true }, "Seal to the new key");
    const cancel = h("button", { type: "button", class: "secondary" }, "Cancel");
    compared.addEventListener("change", () => {
      seal.disabled = !compared.checked;
    });
    const form = h(
      "form",
      { method: "dialog" },
      h("h2", { id: "dialog-title" }, `Warning: ${name}'s key has changed`),
      h(
        "p",
        { id: "keychange-why" },
        `This browser first sealed a session to ${name} on this hub on ${new Date(since).toLocaleString()}, with another key. `,
        "Either whoever runs it made a new key, or the hub (or someone in front of it) is trying to receive this session's secret in its place. ",
        `Ask whoever runs ${name} for the fingerprint its service printed when it started, and compare.`,
      ),
      h("p", {}, "Pinned key: ", h("code", { class: "fingerprint", id: "keychange-old" }, pinned)),
      h("p", {}, "Key the hub lists now: ", h("code", { class: "fingerprint", id: "keychange-new" }, listed)),
      h("p", {}, compared, " ", h("label", { for: "keychange-compared" }, `I compared the new fingerprint with the one ${name}'s operator printed, and they match`)),
      h("div", { class: "row" }, seal, cancel),
    );
    const dialog = h("dialog", { "aria-labelledby": "dialog-title", "aria-describedby": "keychange-why", class: "warning" }, form);
    const done = (value: boolean) => {
      dialog.close();
      dialog.remove();
      resolve(value);
    };
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      done(compared.checked);
    });
    cancel.addEventListener("click", () => done(false));
    dialog.addEventListener("cancel", (event) => {
      event.preventDefault();
      done(false);
    });
    document.body.append(dialog);
    dialog.showModal();
    cancel.focus();
  });
}
