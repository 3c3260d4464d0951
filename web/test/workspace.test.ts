// Workspace schema 2 in the page (web/src/workspace.ts): the same ids, digests, conflict names and
// trash rule as Python (collab/workspace_files.py; the values below are Python's), and the cases of
// docs/workspace.md between two documents that sync.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as Y from "yjs";
import { Workspace } from "../src/workspace.js";
import { conflictName, migratedFileId, migrationUpdate, textDigest } from "../src/workspace_files.js";

function sync(a: Y.Doc, b: Y.Doc): void {
  Y.applyUpdate(b, Y.encodeStateAsUpdate(a, Y.encodeStateVector(b)));
  Y.applyUpdate(a, Y.encodeStateAsUpdate(b, Y.encodeStateVector(a)));
}

function pair(): [Workspace, Workspace] {
  const a = new Workspace(new Y.Doc(), () => "ada");
  const b = new Workspace(new Y.Doc(), () => "bob");
  a.migrate();
  sync(a.doc, b.doc);
  return [a, b];
}

const snapshot = (ws: Workspace) => Object.fromEntries(ws.paths().map((p) => [p, ws.text(p)!.toString()]));

test("ids, digests and conflict names are Python's", () => {
  assert.equal(textDigest("héllo 😀\n"), "ff059265");
  assert.equal(textDigest(""), "811c9dc5");
  assert.equal(migratedFileId("src/app.py"), "1086b786180ededb80395a1483225ba5");
  assert.equal(migratedFileId("é/😀.md"), "8aee105ab1eeac0ba45dcadaf1e31e68");
  assert.equal(conflictName("a/b.py", "12345678"), "a/b (conflict 12345678).py");
  assert.equal(conflictName(".env", "x"), ".env (conflict x)");
  assert.equal(conflictName("Makefile", "x"), "Makefile (conflict x)");
  assert.equal(conflictName("a.tar.gz", "x"), "a.tar (conflict x).gz");
});

test("an edit made during a rename lands in the renamed file", () => {
  const [a, b] = pair();
  a.create("helpers.py", "def f():\n    pass\n");
  sync(a.doc, b.doc);
  b.text("helpers.py")!.insert(0, "# bob\n");
  a.rename("helpers.py", "tools/helpers.py");
  sync(a.doc, b.doc);
  assert.deepEqual(snapshot(a), { "tools/helpers.py": "# bob\ndef f():\n    pass\n" });
  assert.deepEqual(snapshot(b), snapshot(a));
});

test("two files created at one path both stay; the greater id is renamed", () => {
  const [a, b] = pair();
  const ida = a.create("todo.md", "ada\n");
  const idb = b.create("todo.md", "bob\n");
  sync(a.doc, b.doc);
  const [small, big] = [ida, idb].sort();
  assert.equal(a.fileId("todo.md"), small);
  assert.equal(a.fileId(conflictName("todo.md", big!.slice(0, 8))), big);
  assert.deepEqual(snapshot(b), snapshot(a));
});

test("a delete goes to the trash; a concurrent rename or edit keeps the file; restore brings it back", () => {
  const [a, b] = pair();
  a.create("x.py", "x\n");
  a.create("y.py", "y\n");
  sync(a.doc, b.doc);
  b.delete("x.py");
  b.delete("y.py");
  a.rename("x.py", "x2.py");
  a.text("y.py")!.insert(0, "#");
  sync(a.doc, b.doc);
  assert.deepEqual(snapshot(b), { "x2.py": "x\n", "y.py": "#y\n" });
  a.delete("x2.py");
  sync(a.doc, b.doc);
  const [entry] = b.trash();
  assert.equal(entry?.path, "x2.py");
  assert.equal(entry?.by, "ada");
  assert.equal(b.restore(entry!.id), "x2.py");
  sync(a.doc, b.doc);
  assert.deepEqual(a.trash(), []);
  assert.deepEqual(snapshot(a), { "x2.py": "x\n", "y.py": "#y\n" });
});

test("two pages migrating one schema-1 room make one copy; suggestions keep their character", () => {
  const old = new Y.Doc();
  old.getMap("files").set("a.py", new Y.Text("hello world\n"));
  const a = new Workspace(new Y.Doc(), () => "ada");
  const b = new Workspace(new Y.Doc(), () => "bob");
  Y.applyUpdate(a.doc, Y.encodeStateAsUpdate(old));
  const sid = a.requestSuggestion("a.py", 6, "ada");
  Y.applyUpdate(b.doc, Y.encodeStateAsUpdate(a.doc));
  assert.equal(a.migrate(), true);
  a.text("a.py")!.insert(0, "A");
  assert.equal(b.migrate(), true);
  b.text("a.py")!.insert(0, "B");
  sync(a.doc, b.doc);
  assert.equal(a.text("a.py")!.toString().length, "ABhello world\n".length);
  assert.deepEqual(snapshot(a), snapshot(b));
  assert.deepEqual([...a.doc.getMap("files").keys()].sort(), ["COLLAB-UPGRADE-REQUIRED.txt", "a.py"]); // kept for older clients
  const [s] = a.suggestions("a.py");
  assert.equal(s?.id, sid);
  assert.equal(s?.index, 8); // "AB" + "hello " : the same character as before
  assert.deepEqual(migrationUpdate(new Map([["a.py", "x"]])), migrationUpdate(new Map([["a.py", "x"]])));
  assert.equal(a.migrate(), false);
});

test("an older client's schema-1 edit after the migration is carried once, beside a schema-2 edit", () => {
  const old = new Y.Doc();
  old.getMap("files").set("a.txt", new Y.Text("one\ntwo\nthree\n"));
  const a = new Workspace(new Y.Doc(), () => "ada");
  const b = new Workspace(new Y.Doc(), () => "bob");
  for (const w of [a, b]) Y.applyUpdate(w.doc, Y.encodeStateAsUpdate(old));
  assert.equal(a.migrate(), true);
  assert.equal(b.migrate(), true);
  sync(a.doc, b.doc);
  a.text("a.txt")!.insert(8, "X\n"); // after "two\n"
  sync(a.doc, b.doc);
  const before = Y.encodeStateVector(old);
  const legacy = old.getMap("files").get("a.txt") as Y.Text;
  legacy.delete(4, 4); // "two\n"
  legacy.insert(0, "zero\n");
  for (const w of [a, b]) Y.applyUpdate(w.doc, Y.encodeStateAsUpdate(old, before));
  assert.equal(a.carryLegacy(), 1); // both carry, from the same state, before hearing of the other's
  assert.equal(b.carryLegacy(), 1);
  sync(a.doc, b.doc);
  for (const w of [a, b]) {
    assert.equal(w.text("a.txt")!.toString(), "zero\none\nX\nthree\n");
    assert.equal(w.carryLegacy(), 0);
  }
});

test("the room's trash_days empties what has been in the trash longer", () => {
  const [a] = pair();
  a.create("old.txt", "old\n");
  a.delete("old.txt");
  assert.equal(a.expireTrash(), 0); // unset: kept
  a.doc.getMap("settings").set("trash_days", 1);
  const [entry] = a.trash();
  assert.equal(a.expireTrash(entry!.ts + 86400 - 1), 0);
  assert.equal(a.expireTrash(entry!.ts + 86401), 1);
  assert.deepEqual(a.trash(), []);
});
