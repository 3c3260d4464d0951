// The connection status line: connected / reconnecting / offline edits pending.
import type { Transport } from "../transport/types.js";
import { h } from "./dom.js";

export function statusText(t: Transport): string {
  const pending = t.pending;
  const edits = `${pending} edit${pending === 1 ? "" : "s"}`;
  switch (t.state) {
    case "connecting":
      return "Connecting…";
    case "connected":
      return pending ? `Connected, sending ${edits}` : "Connected";
    case "reconnecting":
      return pending ? `Reconnecting… ${edits} made offline pending` : "Reconnecting…";
    case "offline":
      return pending ? `Offline: ${edits} made offline pending, they sync when you are back` : "Offline: edits you make sync when you are back";
    case "failed":
      return `Disconnected: ${t.failure ?? "the hub refused the connection"}`;
  }
}

export class StatusLine {
  readonly el = h("p", { id: "connection-status", class: "status", role: "status" });

  constructor(private readonly transport: Transport) {
    transport.onChange(() => this.render());
    this.render();
  }

  render(): void {
    const text = statusText(this.transport);
    if (this.el.textContent !== text) this.el.textContent = text;
    this.el.dataset.state = this.transport.state;
    this.el.dataset.pending = String(this.transport.pending);
  }
}
