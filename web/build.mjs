// Build the browser client into collab/static/ (committed, so `pip install` users need no Node).
//   node build.mjs           build into ../collab/static
//   node build.mjs --check   build into a temp dir and fail if ../collab/static differs (CI)
//   node build.mjs --tests   bundle test/*.test.ts for `node --test test-build/`
import * as esbuild from "esbuild";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, mkdirSync, existsSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const staticDir = join(here, "..", "collab", "static");
const mode = process.argv[2] ?? "--build";

async function buildApp(outdir) {
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(outdir, { recursive: true });
  await esbuild.build({
    entryPoints: [join(here, "src", "main.ts")],
    bundle: true,
    minify: true,
    format: "esm",
    target: ["chrome110", "firefox115", "safari17"],
    outfile: join(outdir, "app.js"),
    legalComments: "none",
    logLevel: "warning",
    // The bundle must not depend on where it was built: no absolute paths, no timestamps.
    absWorkingDir: here,
  });
  cpSync(join(here, "public"), outdir, { recursive: true });
  // One HTML template, two pages: asset URLs are relative so a hub under a path prefix works.
  const page = readFileSync(join(here, "page.html"), "utf8");
  for (const [name, base, title] of [["index.html", "", "collab"], ["session.html", "../", "collab session"]]) {
    writeFileSync(join(outdir, name), page.replaceAll("{{base}}", base).replaceAll("{{title}}", title));
  }
}

function listFiles(dir) {
  const out = [];
  const walk = (d) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, entry.name);
      if (entry.isDirectory()) walk(p);
      else out.push(relative(dir, p));
    }
  };
  if (existsSync(dir)) walk(dir);
  return out.sort();
}

if (mode === "--build") {
  await buildApp(staticDir);
  console.log(`built ${listFiles(staticDir).join(", ")} into ${relative(process.cwd(), staticDir) || "."}`);
} else if (mode === "--check") {
  const tmp = mkdtempSync(join(tmpdir(), "collab-static-"));
  try {
    await buildApp(tmp);
    const fresh = listFiles(tmp);
    const committed = listFiles(staticDir);
    const problems = [];
    for (const f of new Set([...fresh, ...committed])) {
      if (!fresh.includes(f)) problems.push(`${f}: committed but no longer built`);
      else if (!committed.includes(f)) problems.push(`${f}: built but not committed`);
      else if (!readFileSync(join(tmp, f)).equals(readFileSync(join(staticDir, f)))) problems.push(`${f}: differs from a fresh build`);
    }
    if (problems.length) {
      console.error("collab/static/ does not match web/ sources; run `npm run build --prefix web` and commit:\n  " + problems.join("\n  "));
      process.exit(1);
    }
    console.log("collab/static/ matches a fresh build of web/");
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
} else if (mode === "--tests") {
  const outdir = join(here, "test-build");
  rmSync(outdir, { recursive: true, force: true });
  const tests = readdirSync(join(here, "test")).filter((f) => f.endsWith(".test.ts"));
  await esbuild.build({
    entryPoints: tests.map((f) => join(here, "test", f)),
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    outdir,
    outExtension: { ".js": ".mjs" },
    logLevel: "warning",
  });
} else {
  console.error(`unknown option ${mode}`);
  process.exit(2);
}
