// Who the AI is working for right now, read from presence and the shared document (docs/ai.md):
// agents publish {agent: {name, model, busy}} in awareness; a suggestion they stream carries
// `agent: "<name>#<client id>"` and `requested_by`; a chat reply they stream has `status:
// "streaming"` and `reply_to`. Nothing here is trusted for anything but display.
import type { Awareness } from "y-protocols/awareness";
import { presenceName } from "../presence/peer.js";
import type { Workspace } from "../workspace.js";

export interface AgentPresence {
  clientId: number;
  name: string;
  model: string;
  backend: string;
  local: boolean;
  busy: number;
}

export interface Activity {
  phase: "thinking" | "writing";
  what: "answer" | "suggestion";
  forWhom: string;
  file?: string;
  suggestion?: string;
}

export function agentsPresent(awareness: Awareness): AgentPresence[] {
  const out: AgentPresence[] = [];
  for (const [clientId, state] of awareness.getStates()) {
    const agent = (state as { agent?: Record<string, unknown> }).agent;
    const name = agent && typeof agent === "object" ? presenceName(agent.name) : null;
    if (!agent || name === null) continue;
    out.push({
      clientId,
      name,
      model: String(agent.model ?? "").slice(0, 128),
      backend: String(agent.backend ?? "").slice(0, 160),
      local: agent.local === true,
      busy: Number(agent.busy) || 0,
    });
  }
  return out;
}

export function activityOf(ws: Workspace, agent: AgentPresence): Activity[] {
  const out: Activity[] = [];
  const id = `${agent.name}#${agent.clientId}`;
  for (const s of ws.suggestions()) {
    if (s.agent !== id || s.status !== "streaming") continue;
    out.push({ phase: s.text.length > 0 ? "writing" : "thinking", what: "suggestion", forWhom: s.requestedBy, file: s.file, suggestion: s.id });
  }
  const messages = ws.messages();
  for (const m of messages) {
    if (m.kind !== "ai" || m.author !== agent.name || m.status !== "streaming") continue;
    const asked = m.replyTo === undefined ? undefined : messages.find((q) => q.id === m.replyTo);
    out.push({ phase: m.text.length > 0 ? "writing" : "thinking", what: "answer", forWhom: asked?.author ?? "" });
  }
  return out;
}

/** The line the people list shows for an AI participant ("AI · model · ai is thinking for Ada"), or null for a person. */
export function agentStatus(ws: Workspace, awareness: Awareness, clientId: number): string | null {
  const agent = agentsPresent(awareness).find((a) => a.clientId === clientId);
  if (!agent) return null;
  const doing = activityOf(ws, agent).map((a) => describe(agent.name, a));
  const model = `AI · ${agent.model || agent.backend}${agent.local ? " (local)" : ""}`;
  return doing.length ? `${model} · ${doing.join("; ")}` : agent.busy > 0 ? `${model} · working` : `${model} · idle`;
}

export function describe(agentName: string, a: Activity): string {
  const who = a.forWhom ? ` for ${a.forWhom}` : "";
  if (a.what === "suggestion") return `${agentName} is ${a.phase === "thinking" ? "thinking" : "writing a suggestion"}${who}${a.file ? ` in ${a.file}` : ""}`;
  return `${agentName} is ${a.phase === "thinking" ? "thinking about an answer" : "writing an answer"}${who}`;
}
