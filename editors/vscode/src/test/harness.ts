// The extension's session logic driven line by line from a test (tests/editors/vscode_support.py):
// one JSON command per line on stdin, one JSON answer per line on stdout. The editor is a
// MemoryBuffer per file, which applies remote edits asynchronously as VS Code does.
import * as readline from "readline";
import { CollabSession } from "../core/session";
import { lineStarts, offsetAt, positionAt, Change } from "../core/text";
import { MemoryBuffer } from "./memoryBuffer";

let session: CollabSession | null = null;
const buffers = new Map<string, MemoryBuffer>();
const events: Array<[string, unknown]> = [];

function need(): CollabSession {
  if (!session) throw new Error("no session: start first");
  return session;
}

function buffer(path: string): MemoryBuffer {
  const found = buffers.get(path);
  if (!found) throw new Error(`${path} is not open`);
  return found;
}

const ops: Record<string, (a: any) => unknown> = {
  async start(a) {
    session = new CollabSession({ command: a.command });
    for (const name of ["status", "people", "files", "chat", "suggestion", "follow", "log", "inline", "inline_clear", "exit"]) {
      session.on(name, (p) => events.push([name, p]));
    }
    await session.start();
    return {};
  },
  join: (a) => need().join(a.link, a.name),
  async open(a) {
    const file = await need().open(a.path, Boolean(a.create));
    const buf = new MemoryBuffer(file.shadow, file, a.delay_ms ?? 0);
    buffers.set(file.path, buf);
    file.attach(buf);
    return { path: file.path, text: file.shadow, revision: file.revision };
  },
  text: (a) => buffer(a.path).text(),
  /** A keystroke at fractions of the buffer (as the Neovim test types): insert and/or delete in one line. */
  type(a) {
    const buf = buffer(a.path);
    const text = buf.text();
    const starts = lineStarts(text);
    const line = Math.floor(a.row_at * starts.length);
    const lineText = text.slice(starts[line], line + 1 < starts.length ? starts[line + 1] - 1 : text.length);
    const points = [...lineText];
    const first = Math.min(points.length, Math.floor(a.char_at * (points.length + 1)));
    const last = Math.min(points.length, first + a.deleting);
    const units = (n: number) => points.slice(0, n).join("").length;
    const change: Change = {
      range: { start: { line, character: units(first) }, end: { line, character: units(last) } },
      text: a.inserted,
    };
    buf.type([change]);
    return {};
  },
  /** Replace [from, to) (UTF-16 offsets) with text. */
  edit(a) {
    const buf = buffer(a.path);
    const text = buf.text();
    buf.type([{ range: { start: positionAt(text, a.from), end: positionAt(text, a.to) }, text: a.text }]);
    return {};
  },
  hold: (a) => buffer(a.path).hold(),
  unhold: (a) => buffer(a.path).unhold(),
  file(a) {
    const file = need().files.get(a.path)!;
    return { revision: file.revision, sent: file.sent, dropped: file.dropped, refused: buffer(a.path).refused, applying: file.applying };
  },
  cursor(a) {
    const s = need();
    const file = s.files.get(a.path)!;
    const at = positionAt(buffer(a.path).text(), a.offset);
    return s.cursor(file, [{ start: at, end: at }]);
  },
  /** Remote cursors that refer to the buffer as it is now, as UTF-16 offsets in it. */
  cursors(a) {
    const s = need();
    const file = s.files.get(a.path);
    if (!file) return [];
    const text = buffer(a.path).text();
    return s.currentCursors(file).map((c) => ({ name: c.name, color: c.color, offset: offsetAt(text, c.ranges[0].end) }));
  },
  suggest(a) {
    const s = need();
    return s.suggest(s.files.get(a.path)!, positionAt(buffer(a.path).text(), a.offset));
  },
  suggestion: (a) => need().suggestions.get(a.sid) ?? null,
  accept: (a) => need().accept(a.sid),
  reject: (a) => need().reject(a.sid),
  chat: (a) => need().sendChat(a.text),
  inline_enable: (a) => need().inlineEnable(a.enabled, a.debounce_ms),
  /** The inline completion showing, if it refers to the buffer as it is now, with its offset in it. */
  inline(a) {
    const s = need();
    const g = s.inline;
    const file = s.files.get(a.path);
    if (!g || !file || g.path !== a.path || !file.current(g)) return null;
    return { ...g, offset: offsetAt(buffer(a.path).text(), g.position) };
  },
  inline_accept: (a) => need().inlineAccept(a.iid, Boolean(a.inserted)),
  trash: () => need().trash(),
  restore: (a) => need().restore(a.tid, a.path),
  follow: (a) => need().follow(a.name),
  state() {
    const s = need();
    return { status: s.status, people: s.people, paths: s.paths, chat: [...s.chat.values()], read_only: s.readOnly };
  },
  events: () => events.splice(0),
  async stop() {
    await session?.stop();
    session = null;
    return {};
  },
};

const lines = readline.createInterface({ input: process.stdin });
lines.on("line", async (line) => {
  const message = JSON.parse(line);
  let answer: object;
  try {
    const op = ops[message.op];
    if (!op) throw new Error(`unknown op ${message.op}`);
    answer = { id: message.id, ok: (await op(message)) ?? null };
  } catch (error: any) {
    answer = { id: message.id, error: String(error?.message ?? error) };
  }
  process.stdout.write(JSON.stringify(answer) + "\n");
});
lines.on("close", async () => {
  await session?.stop();
  process.exit(0);
});
