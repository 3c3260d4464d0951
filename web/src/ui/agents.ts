// Agents the hub knows (collab agent --serve): list them with their key fingerprints, invite one
// into this encrypted room by sealing the room secret to its key, or remove it again.
// The key is pinned on first use (a changed key needs an explicit confirmation, keychange.ts), and
// an invite counts as answered only when the agent proves it holds that key (inviteack.ts).
import type { Awareness } from "y-protocols/awareness";
import type * as Y from "yjs";
import { b64urlDecode, b64urlEncode } from "../crypto/b64url.js";
import type { Bytes } from "../crypto/bytes.js";
import { ACKS_MAP, ackKey, readAck, verifyAck } from "../crypto/inviteack.js";
import type { RoomKeys } from "../crypto/keys.js";
import { AgentPins } from "../crypto/pins.js";
import { agentPublicKey, fingerprint, sealKeepingEphemeral } from "../crypto/seal.js";
import { agentsPresent } from "../ai/activity.js";
import type { Workspace } from "../workspace.js";
import { confirmAction } from "./dialog.js";
import { clear, h } from "./dom.js";
import { confirmKeyChange } from "./keychange.js";

// How long an agent may be present under an invite of ours without its invite-ack before the page
// warns: the real service writes the ack before it publishes presence, so this only covers delivery.
const ACK_GRACE_MS = 8000;
// The hub's listing changes when an agent service starts or stops: read it again this often while
// the tab is visible, and at once when an AI shows up in presence that the listing does not have.
const RELIST_MS = 10000;

/** An invite this tab sealed: the ephemeral's ack key lives only here (a reload forgets it). */
interface Pending {
  inviteId: string;
  ephPublic: Bytes;
  agentPublic: Bytes;
  print: string;
  key: CryptoKey;
  presentSince?: number;
}

type Verdict = { kind: "joining" } | { kind: "waiting" } | { kind: "confirmed" } | { kind: "unproven" } | { kind: "forged"; why: string };

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
  private warning = h("p", { class: "error small", id: "agents-warning", role: "alert" });
  private listed: Listed[] = [];
  private readonly pins: AgentPins;
  private readonly pending = new Map<string, Pending>();
  private readonly verdicts = new Map<string, Verdict>();
  private readonly acks: Y.Map<unknown>;
  private checking = 0;

  private get keys(): RoomKeys | null {
    return this.keysNow();
  }

  constructor(
    private readonly serverBase: string,
    // Read at each use: after a key rotation an invite seals the new epoch's secret (docs/e2ee.md).
    private readonly keysNow: () => RoomKeys | null,
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
      this.warning,
    );
    this.pins = new AgentPins(localStorage, serverBase);
    this.acks = ws.doc.getMap(ACKS_MAP);
    this.acks.observe(() => void this.checkAcks());
    ws.observeAgents(() => this.render());
    awareness.on("change", () => {
      this.render();
      void this.checkAcks();
      if (agentsPresent(awareness).some((a) => !this.listed.some((l) => l.name === a.name))) this.loadSoon();
    });
    void this.load();
    setInterval(() => {
      if (document.visibilityState === "visible") void this.load();
    }, RELIST_MS);
  }

  private loading = false;
  private lastLoad = 0;

  /** At most one listing every two seconds, however many presence changes ask. */
  private loadSoon(): void {
    if (!this.loading && Date.now() - this.lastLoad > 2000) void this.load();
  }

  async load(): Promise<void> {
    this.loading = true;
    this.lastLoad = Date.now();
    try {
      const response = await fetch(`${this.serverBase}/api/agents`, { headers: { accept: "application/json" } });
      if (!response.ok) throw new Error(`the hub answered ${response.status}`);
      const data = (await response.json()) as { agents?: Listed[] };
      this.listed = (data.agents ?? []).filter((a) => typeof a?.name === "string" && typeof a.public_key === "string");
      if (this.status.textContent?.startsWith("Cannot list agents")) this.status.textContent = "";
    } catch (err) {
      this.listed = [];
      this.status.textContent = `Cannot list agents: ${(err as Error).message}`;
    } finally {
      this.loading = false;
    }
    this.render();
  }

  render(): void {
    clear(this.list);
    const present = agentsPresent(this.awareness);
    if (!this.listed.length) {
      // An agent brought in by its link is here without any service the hub lists.
      const here = present.map((a) => a.name).join(", ");
      this.list.append(h("li", { class: "muted small" }, here
        ? `${here} ${present.length === 1 ? "is" : "are"} in this session. No agent service is listed on this hub to invite more (collab agent --serve).`
        : "No agent service is running on this hub. Start one with collab agent --serve, or run collab agent LINK."));
    }
    for (const agent of this.listed) {
      const here = present.some((p) => p.name === agent.name);
      const invited = this.ws.roomAgent(agent.name)?.status === "invited";
      const pin = this.pins.get(agent.name);
      const changed = pin !== null && pin.key !== agent.public_key;
      const verdict = this.verdicts.get(agent.name);
      const item = h(
        "li",
        { "data-agent": agent.name },
        h("span", { class: "name" }, agent.name),
        " ",
        h("span", { class: "muted small" }, `${agent.model || agent.backend}${agent.local ? " (local)" : ""}`),
        h("div", { class: "small" }, "Key ", h("code", { class: "fingerprint" }, agent.fingerprint), pin && !changed ? " (pinned)" : ""),
        changed ? h("div", { class: "small error key-changed" }, `Key changed since this browser pinned it (pinned: ${pin.fingerprint})`) : null,
        h("div", { class: `small agent-state${verdict?.kind === "forged" || verdict?.kind === "unproven" ? " error" : ""}` }, this.stateText(agent.name, here, invited, verdict)),
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

  private stateText(name: string, here: boolean, invited: boolean, verdict: Verdict | undefined): string {
    const pending = this.pending.get(name);
    if (!pending || !verdict) return here ? "In this session" : invited ? "Invited, joining…" : "Not in this session";
    switch (verdict.kind) {
      case "joining":
        return "Invited, joining…";
      case "waiting":
        return `${name} is here; waiting for it to confirm the invite…`;
      case "confirmed":
        return `${name} joined (fingerprint ${pending.print}, confirmed)`;
      case "unproven":
        return `Warning: ${name} joined without proving it holds the key you sealed to (${pending.print}). It may not be the agent you invited.`;
      case "forged":
        return `Warning: ${verdict.why} It may not be the agent you invited (key ${pending.print}): remove it.`;
    }
  }

  /** Compare what is present and what the document's invite-acks prove, for each invite of this tab. */
  private async checkAcks(): Promise<void> {
    if (!this.keys || !this.pending.size) return;
    const run = ++this.checking;
    const next = new Map<string, Verdict>();
    let recheck = false;
    for (const [name, p] of this.pending) {
      const present = agentsPresent(this.awareness).filter((a) => a.name === name);
      if (!present.length) {
        p.presentSince = undefined;
        next.set(name, { kind: "joining" });
        continue;
      }
      p.presentSince ??= Date.now();
      const ack = readAck(this.acks.get(p.inviteId));
      if (!ack) {
        const late = Date.now() - p.presentSince >= ACK_GRACE_MS;
        recheck ||= !late;
        next.set(name, { kind: late ? "unproven" : "waiting" });
        continue;
      }
      const valid = ack.agent === name && ack.key === b64urlEncode(p.agentPublic)
        && (await verifyAck(p.key, this.keys.roomIdBytes, p.agentPublic, p.ephPublic, ack.client, name, ack.mac));
      if (!valid) {
        next.set(name, { kind: "forged", why: `a participant calling itself ${name} claims this invite but did not prove it holds the key you sealed to.` });
      } else if (!present.some((a) => a.clientId === ack.client)) {
        next.set(name, { kind: "forged", why: `a participant calling itself ${name} is not the one that confirmed the invite.` });
      } else if (present.length > 1) {
        next.set(name, { kind: "forged", why: `${name} confirmed the invite, but another participant also calls itself ${name}.` });
      } else {
        next.set(name, { kind: "confirmed" });
      }
    }
    if (run !== this.checking) return; // a newer check is under way
    for (const [name, verdict] of next) {
      const before = this.verdicts.get(name)?.kind;
      this.verdicts.set(name, verdict);
      if (before === verdict.kind) continue;
      const p = this.pending.get(name)!;
      if (verdict.kind === "confirmed") this.status.textContent = `${name} joined (fingerprint ${p.print}, confirmed).`;
      if (verdict.kind === "forged" || verdict.kind === "unproven") this.warning.textContent = this.stateText(name, true, true, verdict);
      else if (before === "forged" || before === "unproven") this.warning.textContent = "";
    }
    if (recheck) setTimeout(() => void this.checkAcks(), ACK_GRACE_MS / 4);
    this.render();
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
    const keyText = b64urlEncode(publicKey);
    const pin = this.pins.check(agent.name, keyText);
    if (pin.state === "changed") {
      this.warning.textContent = `${agent.name}'s key is not the one this browser pinned: compare fingerprints before sealing anything to it.`;
      const ok = await confirmKeyChange(agent.name, pin.pin.fingerprint, print, pin.pin.since);
      if (!ok) {
        this.warning.textContent = `Not invited: ${agent.name}'s key changed (pinned ${pin.pin.fingerprint}, listed ${print}) and the change was not confirmed.`;
        return;
      }
      this.warning.textContent = "";
    } else {
      const pinned = pin.state === "same"
        ? ` It is the key this browser pinned for ${agent.name} on ${new Date(pin.pin.since).toLocaleDateString()}.`
        : ` This browser will remember (pin) it and warn if ${agent.name}'s key ever changes.`;
      const ok = await confirmAction(
        `Invite ${agent.name}? It will be able to read and write this session. Check its key fingerprint with whoever runs it: ${print}.${pinned}`,
        "Invite",
      );
      if (!ok) return;
    }
    if (pin.state !== "same") this.pins.pin(agent.name, keyText, print);
    try {
      const { sealed, ephemeral } = await sealKeepingEphemeral(this.keys, publicKey);
      const ephPublic = b64urlDecode(sealed.ephemeral);
      this.pending.set(agent.name, { inviteId: sealed.ephemeral, ephPublic, agentPublic: publicKey, print, key: await ackKey(ephemeral, publicKey, ephPublic) });
      this.verdicts.set(agent.name, { kind: "joining" });
      this.ws.setRoomAgent(agent.name, "invited", this.me());
      const response = await fetch(`${this.serverBase}/api/agents/${encodeURIComponent(agent.name)}/invites`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(sealed),
      });
      if (!response.ok) throw new Error(((await response.json().catch(() => ({}))) as { error?: string }).error ?? `the hub answered ${response.status}`);
      this.status.textContent = `Invited ${agent.name} (key ${print}).`;
    } catch (err) {
      this.pending.delete(agent.name);
      this.verdicts.delete(agent.name);
      this.ws.forgetRoomAgent(agent.name);
      this.status.textContent = `Could not invite ${agent.name}: ${(err as Error).message}`;
    }
  }

  private async remove(agent: Listed): Promise<void> {
    const ok = await confirmAction(`Remove ${agent.name} from this session? It leaves; it still knows the key it was given.`, "Remove");
    if (!ok) return;
    this.ws.setRoomAgent(agent.name, "removed", this.me());
    this.pending.delete(agent.name);
    this.verdicts.delete(agent.name);
    this.warning.textContent = "";
    this.status.textContent = `${agent.name} was asked to leave.`;
  }
}
