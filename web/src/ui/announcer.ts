// Polite, throttled announcements for screen readers: who joined, who moved to which file.
// Never per keystroke: messages are coalesced and spoken at most once per interval.
import { h } from "./dom.js";

export class Announcer {
  readonly el = h("div", { class: "visually-hidden", "aria-live": "polite", "aria-atomic": "true", id: "announcer" });
  private queue: string[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(private readonly intervalMs = 3000) {}

  say(message: string): void {
    if (!this.queue.includes(message)) this.queue.push(message);
    if (!this.timer) this.timer = setTimeout(() => this.flush(), 300);
  }

  private flush(): void {
    this.el.textContent = this.queue.slice(-3).join(". ");
    this.queue = [];
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.queue.length) this.flush();
    }, this.intervalMs);
  }
}
