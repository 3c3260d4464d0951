// "Remove from session" in the people list, and the log code to compare (docs/e2ee.md "Rotation",
// "Fork detection"). Removing rotates the room's keys: every device listed in the room's roster
// stays in without a new link, the removed person's devices can neither read what follows nor write.
import type { Awareness } from "y-protocols/awareness";
import { rotatorFor } from "../transport/rotation.js";
import type { Announcer } from "./announcer.js";
import { h } from "./dom.js";
import type { Person } from "./people.js";

/** The button for one person, or null (a read-only link, a plaintext room, nobody by that name listed). */
export function removeButton(awareness: Awareness, person: Person, announcer: Announcer): HTMLElement | null {
  const rotator = rotatorFor(awareness);
  if (!rotator?.canWrite || person.self || !rotator.rosterNames().includes(person.name)) return null;
  const button = h("button", { type: "button", class: "secondary small", "aria-label": `Remove ${person.name} from session`, "data-remove": person.name }, "Remove");
  button.addEventListener("click", async () => {
    const ok = confirm(
      `Remove ${person.name} from this session? The room moves to new keys: ${person.name}'s devices can no longer read or write, ` +
        "everyone else listed in the session stays in. Read-only links and pages that are not listed need the new link.",
    );
    if (!ok) return;
    button.setAttribute("disabled", "");
    try {
      const keys = await rotator.rotate([person.name]);
      announcer.say(`${person.name} was removed; the session's keys are now epoch ${keys.epoch}`);
      button.textContent = "Removed";
    } catch (err) {
      button.removeAttribute("disabled");
      alert(`Could not remove ${person.name}: ${(err as Error).message}`);
    }
  });
  return button;
}

/** "Log code 12:ab12-cd34": equal on every member's page when the hub shows everyone the same history. */
export function logCodeLine(awareness: Awareness): HTMLElement | null {
  const rotator = rotatorFor(awareness);
  if (!rotator) return null;
  const code = h("code", { id: "log-code" }, rotator.logCode);
  const line = h("p", { class: "muted small", title: "Compare this with the others (out of band): a different code at the same number means the hub showed you different histories" }, "Log code ", code);
  setInterval(() => (code.textContent = rotator.logCode), 2000);
  return line;
}
