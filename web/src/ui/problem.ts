// A page that only says what is wrong, for when the session cannot start.
import { h } from "./dom.js";

export function showProblem(root: HTMLElement, title: string, ...lines: string[]): void {
  root.replaceChildren(
    h("div", { class: "problem", role: "alert" }, h("h1", {}, title), ...lines.map((line) => h("p", {}, line)), h("p", {}, h("a", { href: homeHref() }, "Start a new session"))),
  );
}

/** The landing page of this hub, from a session page's address (keeps a reverse proxy's path prefix). */
export function homeHref(): string {
  return location.pathname.replace(/\/s\/[^/]*\/?$/, "/");
}
