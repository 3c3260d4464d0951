// The line under the editor that says what just happened, or why an action could not be done.
// A notice is news: it goes after a few seconds (longer ones stay a little longer), so the line
// never shows something that stopped being true minutes ago.
import { h } from "./dom.js";

export type Say = (message: string) => void;

export class Notice {
  readonly el = h("p", { id: "notice", class: "notice", role: "status" });
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(private readonly baseMs = 5000) {}

  readonly say: Say = (message) => {
    this.el.textContent = message;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.el.textContent = "";
    }, Math.min(this.baseMs + 40 * message.length, 12000));
  };
}
