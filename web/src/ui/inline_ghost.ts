// Inline completions in the editor: after a pause in typing, ask the room's agent (through our
// presence, web/src/ai/inline.ts) and show its streaming answer (direct messages to us alone) as
// grey text at the cursor, for this typist only. Tab accepts (an ordinary edit, recorded in `ai_assisted` with the model),
// Esc, a click elsewhere or a keystroke that does not match dismisses it and withdraws the request
// (the agent then closes the model's stream); keystrokes that match the ghost's start keep the
// same request (Continue's trick), so typing through a completion costs no second model call.
import * as Y from "yjs";
import type { Awareness } from "y-protocols/awareness";
import { Annotation, Prec, StateEffect, StateField, type Extension } from "@codemirror/state";
import { Decoration, EditorView, keymap, showPanel, ViewPlugin, WidgetType, type DecorationSet, type Panel, type ViewUpdate } from "@codemirror/view";
import { ySyncAnnotation } from "y-codemirror.next";
import { AdaptiveDebounce, inlineAgent, InlineReplies, PROVENANCE, REQUEST, requestFor, ROOM_SETTING, setUserWantsInline, userWantsInline, type InlineRequest } from "../ai/inline.js";
import type { DirectMessages } from "../transport/types.js";
import { closerOverlap } from "./closers.js";
import { h } from "./dom.js";

export interface InlineHost {
  awareness: Awareness;
  /** Where the agent's replies come from: direct messages to us. */
  direct: DirectMessages;
  ytext(): Y.Text | null;
  path(): string | null;
  canWrite(): boolean;
}

interface Shown {
  id: string;
  pos: number;
  text: string;
  done: boolean;
  firstMs: number | null; // pause -> first ghost character, for bench/inline
}

const show = StateEffect.define<Shown | null>();
const accepting = Annotation.define<boolean>();

class InlineWidget extends WidgetType {
  constructor(readonly shown: Shown) {
    super();
  }

  override eq(other: InlineWidget): boolean {
    return other.shown.id === this.shown.id && other.shown.text === this.shown.text && other.shown.done === this.shown.done;
  }

  toDOM(): HTMLElement {
    const s = this.shown;
    return h("span", { class: "cm-inline-completion", "data-inline-id": s.id, "data-done": s.done ? "true" : "false", "data-first-ms": s.firstMs === null ? undefined : s.firstMs.toFixed(1), "aria-hidden": "true" }, s.text);
  }

  override ignoreEvent(): boolean {
    return true;
  }
}

const field = StateField.define<{ shown: Shown | null; deco: DecorationSet }>({
  create: () => ({ shown: null, deco: Decoration.none }),
  update(value, tr) {
    let { shown, deco } = value;
    if (tr.docChanged && shown) shown = { ...shown, pos: tr.changes.mapPos(shown.pos, 1) };
    for (const e of tr.effects) if (e.is(show)) shown = e.value;
    if (shown !== value.shown) {
      deco = shown && shown.text && shown.pos <= tr.state.doc.length ? Decoration.set([Decoration.widget({ widget: new InlineWidget(shown), side: 1 }).range(shown.pos)]) : Decoration.none;
    }
    return { shown, deco };
  },
  provide: (f) => EditorView.decorations.from(f, (v) => v.deco),
});

class Controller {
  private request: InlineRequest | null = null;
  private typed = ""; // what the typist typed of the completion since asking
  private text = ""; // the completion as the agent sent it so far
  private done = false;
  private model = "";
  private askedAt = 0;
  private firstMs: number | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private readonly debounce = new AdaptiveDebounce();
  private readonly replies: InlineReplies;
  private readonly unlisten: () => void;

  constructor(private readonly view: EditorView, private readonly host: InlineHost) {
    this.replies = new InlineReplies(host.awareness);
    this.unlisten = host.direct.onDirect((from, message) => {
      const reply = this.replies.receive(from, message);
      if (reply && reply.id === this.request?.id) this.received();
    });
  }

  enabled(): boolean {
    const ytext = this.host.ytext();
    const room = ytext?.doc?.getMap("settings").get(ROOM_SETTING);
    return !!ytext && !!this.host.path() && this.host.canWrite() && room !== false && userWantsInline() && inlineAgent(this.host.awareness) !== null;
  }

  update(u: ViewUpdate): void {
    const local = u.transactions.some((tr) => tr.docChanged && tr.annotation(ySyncAnnotation) === undefined && !tr.annotation(accepting));
    if (u.docChanged && local) {
      this.debounce.keystroke(performance.now());
      if (!this.keeps(u)) this.dismiss();
      if (!this.request) this.schedule();
    } else if (u.selectionSet && this.request && !u.docChanged) {
      if (u.state.selection.main.head !== this.cursorPos() || !u.state.selection.main.empty) this.dismiss();
    }
  }

  /** Did this edit type exactly the next characters of the completion? Then the request stays. */
  private keeps(u: ViewUpdate): boolean {
    if (!this.request) return false;
    const remaining = this.text.slice(this.typed.length);
    let inserted = "";
    let ok = true;
    const at = u.startState.field(field).shown?.pos ?? -1;
    u.changes.iterChanges((fromA, toA, _fromB, _toB, ins) => {
      if (fromA !== toA || fromA !== at) ok = false;
      inserted += ins.toString();
    });
    if (!ok || !inserted || !remaining.startsWith(inserted)) return false;
    this.typed += inserted;
    if (this.done && this.typed === this.text) {
      this.dismiss(); // typed it all: nothing left to show
      return false;
    }
    this.render();
    return true;
  }

  private cursorPos(): number {
    return this.view.state.field(field).shown?.pos ?? (this.request ? this.request.at + this.typed.length : -1);
  }

  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.ask(), this.debounce.delay());
  }

  private ask(): void {
    this.timer = null;
    const sel = this.view.state.selection.main;
    const path = this.host.path();
    if (!sel.empty || !path || !this.enabled()) return;
    this.request = requestFor(this.view.state.doc.toString(), path, sel.head);
    this.typed = "";
    this.text = "";
    this.done = false;
    this.firstMs = null;
    this.askedAt = performance.now();
    this.host.awareness.setLocalStateField(REQUEST, this.request);
  }

  private received(): void {
    if (!this.request) return;
    const reply = this.replies.replyTo(this.request.id);
    if (!reply) return;
    if (reply.text === this.text && reply.done === this.done) return;
    if (!reply.text.startsWith(this.typed)) {
      this.dismiss(); // it went another way than what was typed
      return;
    }
    if (reply.text && this.firstMs === null) this.firstMs = performance.now() - this.askedAt;
    this.text = reply.text;
    this.done = reply.done;
    this.model = reply.model;
    this.render();
  }

  private render(): void {
    const r = this.request;
    const shown: Shown | null = r ? { id: r.id, pos: r.at + this.typed.length, text: this.text.slice(this.typed.length), done: this.done, firstMs: this.firstMs } : null;
    const current = this.view.state.field(field).shown;
    if (shown && current && current.id === shown.id) shown.pos = current.pos; // mapped through remote edits
    queueMicrotask(() => this.view.dispatch({ effects: show.of(shown) }));
  }

  /** Withdraw the request: the ghost goes, and the agent cancels the model's stream. */
  dismiss(): boolean {
    const request = this.request;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (!request) return false;
    this.replies.forget(request.id);
    this.request = null;
    this.text = "";
    this.typed = "";
    this.host.awareness.setLocalStateField(REQUEST, null);
    queueMicrotask(() => this.view.dispatch({ effects: show.of(null) }));
    return true;
  }

  accept(): boolean {
    const shown = this.view.state.field(field).shown;
    const ytext = this.host.ytext();
    if (!this.request || !shown?.text || !ytext?.doc || !this.host.canWrite()) return false;
    const { id } = this.request;
    const insert = shown.text;
    this.dismiss();
    // Closers the editor auto-inserted after the caret that the completion brings too are merged.
    const merged = closerOverlap(insert, this.view.state.sliceDoc(shown.pos, this.view.state.doc.lineAt(shown.pos).to));
    this.view.dispatch({ changes: { from: shown.pos, to: shown.pos + merged, insert }, selection: { anchor: shown.pos + insert.length }, annotations: accepting.of(true), userEvent: "input.complete", scrollIntoView: true });
    // Provenance: which model wrote which insertion, by whose hand (docs/ai.md, "Inline completions").
    const by = (this.host.awareness.getLocalState() as { user?: { name?: string } } | null)?.user?.name ?? "";
    const start = Y.relativePositionToJSON(Y.createRelativePositionFromTypeIndex(ytext, shown.pos));
    ytext.doc.getMap(PROVENANCE).set(id, { file: this.host.path(), by, model: this.model, ts: Date.now() / 1000, start, length: insert.length });
    return true;
  }

  visible(): boolean {
    return !!this.view.state.field(field).shown?.text;
  }

  destroy(): void {
    this.dismiss();
    this.unlisten();
  }
}

function toggles(host: InlineHost, dismiss: () => void): Panel {
  const mine = h("input", { type: "checkbox", id: "inline-toggle" }) as HTMLInputElement;
  const room = h("input", { type: "checkbox", id: "inline-room-toggle" }) as HTMLInputElement;
  const status = h("span", { class: "cm-inline-status-text" });
  const dom = h(
    "div",
    { class: "cm-inline-status", role: "group", "aria-label": "AI completions as you type" },
    h("label", {}, mine, " Complete as I type"),
    " ",
    h("label", {}, room, " for this room"),
    " ",
    status,
  );
  const settings = () => host.ytext()?.doc?.getMap("settings");
  const refresh = () => {
    const agent = inlineAgent(host.awareness);
    const roomOn = settings()?.get(ROOM_SETTING) !== false;
    mine.checked = userWantsInline();
    room.checked = roomOn;
    room.disabled = !host.canWrite() || !settings();
    mine.disabled = !roomOn;
    status.textContent = !roomOn ? "off for everyone in this room" : !agent ? "no AI that completes inline in this session" : mine.checked ? `by ${agent.name}${agent.model ? ` (${agent.model})` : ""}; Tab accepts, Esc dismisses` : "off for you";
  };
  mine.addEventListener("change", () => {
    setUserWantsInline(mine.checked);
    if (!mine.checked) dismiss();
    refresh();
  });
  room.addEventListener("change", () => {
    settings()?.set(ROOM_SETTING, room.checked);
    refresh();
  });
  host.awareness.on("change", refresh);
  let observed: Y.Map<unknown> | undefined;
  const observe = () => {
    const map = settings();
    if (map === observed) return;
    observed?.unobserve(refresh);
    observed = map;
    map?.observe(refresh);
  };
  observe();
  refresh();
  return {
    dom,
    top: false,
    update: () => {
      observe();
      refresh();
    },
    destroy: () => {
      host.awareness.off("change", refresh);
      observed?.unobserve(refresh);
    },
  };
}

/** The editor extension: one per FileEditor (its host says which file, and whether we may write). */
export function inlineCompletions(host: InlineHost): Extension {
  const plugin = ViewPlugin.define((view) => {
    const controller = new Controller(view, host);
    return { controller, update: (u: ViewUpdate) => controller.update(u), destroy: () => controller.destroy() };
  });
  const controllerOf = (view: EditorView) => view.plugin(plugin)?.controller;
  const run = (act: (c: Controller) => boolean) => (view: EditorView) => {
    const c = controllerOf(view);
    return !!c && c.visible() && act(c);
  };
  return [
    field,
    plugin,
    showPanel.of((view) => toggles(host, () => controllerOf(view)?.dismiss())),
    Prec.highest(keymap.of([
      { key: "Tab", run: run((c) => c.accept()) },
      { key: "Escape", run: run((c) => c.dismiss()) },
    ])),
    inlineTheme,
  ];
}

const inlineTheme = EditorView.theme({
  ".cm-inline-completion": { color: "var(--ghost)", whiteSpace: "pre-wrap", fontStyle: "italic" },
  ".cm-inline-status": { fontFamily: "system-ui, sans-serif", fontSize: "0.8em", padding: "2px 6px", color: "var(--muted)", borderTop: "1px solid var(--border)" },
});
