// Agents the hub knows (collab agent --serve): list them with their key fingerprints, invite one
// into this encrypted room by sealing the room secret to its key, or remove it again.
import type { Awareness } from "y-protocols/awareness";
import type { RoomKeys } from "../crypto/keys.js";
import { agentPublicKey, fingerprint, sealInvite } from "../crypto/seal.js";
import { agentsPresent } from "../ai/activity.js";
import type { Workspace } from "../workspace.js";
import { confirmAction } from "./dialog.js";
import { clear, h } from "./dom.js";

interface Listed {
  name: string;
  public_key: string;
  fingerprint: string;
  model: string;
  backend: string;
  local: boolean;
}

export class AgentsPanel {
  readonly el: HTMLElement;
  private list = h("ul", { class: "agents", id: "agents-list", "aria-label": "AI agents" });
  private status = h("p", { class: "muted small", id: "agents-status", role: "status" });
  private listed: Listed[] = [];

  constructor(
    private readonly serverBase: string,
    private readonly keys: RoomKeys | null,
    private readonly ws: Workspace,
    private readonly awareness: Awareness,
    private readonly me: () => string,
    private readonly canWrite: () => boolean,
  ) {
    const refresh = h("button", { type: "button", id: "agents-refresh", class: "secondary small" }, "Refresh");
    refresh.addEventListener("click", () => void this.load());
    this.el = h(
      "section",
      { class: "panel", "aria-labelledby": "agents-heading" },
      h("h2", { id: "agents-heading" }, "AI agents"),
      this.list,
      h("div", { class: "row" }, refresh),
      this.status,
    );
    ws.observeAgents(() => this.render());
    awareness.on("change", () => this.render());
    void this.load();
  }

  async load(): Promise<void> {
    try {
      const response = await fetch(`${this.serverBase}/api/agents`, { headers: { accept: "application/json" } });
      if (!response.ok) throw new Error(`the hub answered ${response.status}`);
      const data = (await response.json()) as { agents?: Listed[] };
      this.listed = (data.agents ?? []).filter((a) => typeof a?.name === "string" && typeof a.public_key === "string");
    } catch (err) {
      this.listed = [];
      this.status.textContent = `Cannot list agents: ${(err as Error).message}`;
    }
    this.render();
  }

  render(): void {
    clear(this.list);
    const present = agentsPresent(this.awareness);
    if (!this.listed.length) this.list.append(h("li", { class: "muted small" }, "No agent service is running on this hub. Start one with collab agent --serve, or run collab agent LINK."));
    for (const agent of this.listed) {
      const here = present.some((p) => p.name === agent.name);
      const invited = this.ws.roomAgent(agent.name)?.status === "invited";
      const item = h(
        "li",
        { "data-agent": agent.name },
        h("span", { class: "name" }, agent.name),
        " ",
        h("span", { class: "muted small" }, `${agent.model || agent.backend}${agent.local ? " (local)" : ""}`),
        h("div", { class: "small" }, "Key ", h("code", { class: "fingerprint" }, agent.fingerprint)),
        h("div", { class: "small agent-state" }, here ? "In this session" : invited ? "Invited, joining…" : "Not in this session"),
      );
      if (this.canWrite() && this.keys) {
        if (here || invited) {
          const remove = h("button", { type: "button", class: "secondary small", "aria-label": `Remove ${agent.name} from this session` }, "Remove");
          remove.addEventListener("click", () => void this.remove(agent));
          item.append(remove);
        } else {
          const invite = h("button", { type: "button", class: "small", "aria-label": `Invite ${agent.name}` }, "Invite");
          invite.addEventListener("click", () => void this.invite(agent));
          item.append(invite);
        }
      }
      this.list.append(item);
    }
    if (!this.keys) this.status.textContent = "Plaintext room: run collab agent LINK to bring an AI in.";
  }

  private async invite(agent: Listed): Promise<void> {
    if (!this.keys) return;
    let publicKey;
    try {
      publicKey = agentPublicKey(agent.public_key);
    } catch (err) {
      this.status.textContent = (err as Error).message;
      return;
    }
    // Computed here, not taken from the hub's listing: the hub could lie about the fingerprint.
    const print = await fingerprint(publicKey);
    const ok = await confirmAction(
      `Invite ${agent.name}? It will be able to read and write this session. Check its key fingerprint with whoever runs it: ${print}`,
      "Invite",
    );
    if (!ok) return;
    try {
      const sealed = await sealInvite(this.keys, publicKey);
      this.ws.setRoomAgent(agent.name, "invited", this.me());
      const response = await fetch(`${this.serverBase}/api/agents/${encodeURIComponent(agent.name)}/invites`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(sealed),
      });
      if (!response.ok) throw new Error(((await response.json().catch(() => ({}))) as { error?: string }).error ?? `the hub answered ${response.status}`);
      this.status.textContent = `Invited ${agent.name} (key ${print}).`;
    } catch (err) {
      this.ws.forgetRoomAgent(agent.name);
      this.status.textContent = `Could not invite ${agent.name}: ${(err as Error).message}`;
    }
  }

  private async remove(agent: Listed): Promise<void> {
    const ok = await confirmAction(`Remove ${agent.name} from this session? It leaves; it still knows the key it was given.`, "Remove");
    if (!ok) return;
    this.ws.setRoomAgent(agent.name, "removed", this.me());
    this.status.textContent = `${agent.name} was asked to leave.`;
  }
}
