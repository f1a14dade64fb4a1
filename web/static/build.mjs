// Builds web/static/widget.js (the one file shop pages embed) from src/widget/ and lib/.
//
//   node web/static/build.mjs          write widget.js
//   node web/static/build.mjs --check  exit 1 if widget.js differs from a fresh build
//
// The output is committed, so the hub serves it without node; `make lint` and
// tests/test_frontend_units.py run --check so a source edit without a rebuild fails.
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "widget.js");

// The entry's leading /*! … */ comment (how to embed, the invariants) heads the bundle,
// followed by "use strict" (the original hand-written widget's mode).
const entry = readFileSync(join(here, "src/widget/index.js"), "utf8");
const header = entry.startsWith("/*!") ? entry.slice(0, entry.indexOf("*/") + 2) : "";

// esbuild has already printed what failed (file:line); no stack trace on top.
const failed = () => process.exit(1);

const result = await build({
  entryPoints: [join(here, "src/widget/index.js")],
  bundle: true,
  format: "iife",
  target: "es2020", // BigInt literals; every browser the inbox supports
  charset: "utf8",
  legalComments: "none", // the header goes in as the banner, once
  banner: { js: `${header}\n"use strict";` },
  minify: false, // readable in the browser's devtools; served gzip-compressed anyway
  write: false,
  logLevel: "warning",
  absWorkingDir: here,
  tsconfigRaw: {}, // web/static/tsconfig.json is for tsc only (its "strict" would add a second "use strict")
}).catch(failed);
const fresh = result.outputFiles[0].text;

// The pages load their ES modules unbundled (<script type="module">); linking them here
// makes a missing file or a misspelt import a build error instead of a blank page.
const PAGE_ENTRIES = ["inbox.js", "inbox-voice.js", "admin.js", "admin-bots.js", "admin-sla.js", "login.js"];
await build({
  entryPoints: PAGE_ENTRIES.map((f) => join(here, f)),
  bundle: true,
  format: "esm",
  target: "es2020",
  write: false,
  outdir: join(here, "_link_check"), // nothing is written
  logLevel: "error",
  absWorkingDir: here,
  tsconfigRaw: {},
}).catch(failed);

if (process.argv.includes("--check")) {
  let current = "";
  try { current = readFileSync(out, "utf8"); } catch (_) { /* missing: differs */ }
  if (current !== fresh) {
    console.error(`${relative(process.cwd(), out)} is not the build of its sources: run \`make frontend\` and commit it.`);
    process.exit(1);
  }
  console.log(`${relative(process.cwd(), out)} is up to date`);
} else {
  writeFileSync(out, fresh);
  console.log(`wrote ${relative(process.cwd(), out)} (${fresh.length} bytes)`);
}
