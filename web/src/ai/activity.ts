// Who the AI is working for right now, read from presence and the shared document (docs/ai.md):
// agents publish {agent: {name, model, busy}} in awareness; a suggestion they stream carries
// `agent: "<name>#<client id>"` and `requested_by`; a chat reply they stream has `status:
// "streaming"` and `reply_to`. Nothing here is trusted for anything but display.
import * as Y from "yjs";
import type { Awareness } from "y-protocols/awareness";
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
    if (!agent || typeof agent !== "object" || typeof agent.name !== "string") continue;
    out.push({
      clientId,
      name: agent.name.slice(0, 64),
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
  for (const [sid, entry] of ws.suggestions.entries()) {
    if (!(entry instanceof Y.Map) || entry.get("agent") !== id || entry.get("status") !== "streaming") continue;
    const text = entry.get("text");
    out.push({
      phase: text instanceof Y.Text && text.length > 0 ? "writing" : "thinking",
      what: "suggestion",
      forWhom: String(entry.get("requested_by") ?? ""),
      file: String(entry.get("file") ?? ""),
      suggestion: sid,
    });
  }
  const messages = ws.chat.toArray();
  for (const item of messages) {
    if (!(item instanceof Y.Map) || item.get("kind") !== "ai" || item.get("author") !== agent.name || item.get("status") !== "streaming") continue;
    const asked = messages.find((m) => m instanceof Y.Map && m.get("id") === item.get("reply_to"));
    const text = item.get("text");
    out.push({
      phase: text instanceof Y.Text && text.length > 0 ? "writing" : "thinking",
      what: "answer",
      forWhom: asked instanceof Y.Map ? String(asked.get("author") ?? "") : "",
    });
  }
  return out;
}

export function describe(agentName: string, a: Activity): string {
  const who = a.forWhom ? ` for ${a.forWhom}` : "";
  if (a.what === "suggestion") return `${agentName} is ${a.phase === "thinking" ? "thinking" : "writing a suggestion"}${who}${a.file ? ` in ${a.file}` : ""}`;
  return `${agentName} is ${a.phase === "thinking" ? "thinking about an answer" : "writing an answer"}${who}`;
}
