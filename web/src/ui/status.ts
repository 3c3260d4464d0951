// The connection status line: connected / reconnecting / offline edits pending.
import type { LocalCopy } from "../storage/local.js";
import type { Transport } from "../transport/types.js";
import { h } from "./dom.js";

/** `kept`: the pending edits are written to this browser's storage, so closing the tab keeps them. */
export function statusText(t: Transport, kept = false): string {
  const pending = t.pending;
  const edits = `${pending} edit${pending === 1 ? "" : "s"}${kept ? " (kept in this browser)" : ""}`;
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

  constructor(
    private readonly transport: Transport,
    private readonly local: LocalCopy | null,
  ) {
    transport.onChange(() => this.render());
    local?.onChange(() => this.render());
    this.render();
  }

  render(): void {
    const kept = this.local?.upToDate ?? false;
    const text = statusText(this.transport, kept);
    this.el.dataset.kept = String(kept);
    if (this.el.textContent !== text) {
      this.el.textContent = text;
      this.el.title = text; // the top bar may cut it short with an ellipsis
    }
    this.el.dataset.state = this.transport.state;
    this.el.dataset.pending = String(this.transport.pending);
  }
}
