// Builds the iNNspector tab: src/ -> ../innspector_tb/static/ (committed, so pip needs no Node).
//   node build.mjs           write the bundle
//   node build.mjs --check   build into a temporary folder and fail if the committed bundle differs
//   node build.mjs --tests   bundle test/*.test.ts for node's test runner into build/test/
import * as esbuild from "esbuild";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const staticDir = join(here, "..", "innspector_tb", "static");
// static/ holds only this build's output: index.js, its lazily loaded chunks (Vega for the
// widgets), and ELK's worker.

async function buildBundle(outDir) {
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  await esbuild.build({
    entryPoints: [join(here, "src", "index.ts")],
    outdir: outDir,
    entryNames: "[name]",
    chunkNames: "chunk-[hash]",
    splitting: true,
    bundle: true,
    format: "esm",
    target: "es2020",
    minify: true,
    charset: "utf8",
    legalComments: "inline",
    loader: { ".css": "text" },
    logLevel: "warning",
  });
  // ELK's layout runs in a classic worker so big graphs never block the page.
  copyFileSync(join(here, "node_modules", "elkjs", "lib", "elk-worker.min.js"), join(outDir, "elk-worker.js"));
}

async function buildTests() {
  const outDir = join(here, "build", "test");
  rmSync(outDir, { recursive: true, force: true });
  const entries = readdirSync(join(here, "test")).filter((f) => f.endsWith(".test.ts"));
  await esbuild.build({
    entryPoints: entries.map((f) => join(here, "test", f)),
    outdir: outDir,
    outExtension: { ".js": ".mjs" },
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    loader: { ".css": "text" },
    external: ["node:*"],
    logLevel: "warning",
  });
}

async function check() {
  const outDir = mkdtempSync(join(tmpdir(), "innspector-build-"));
  try {
    await buildBundle(outDir);
    const built = readdirSync(outDir).sort();
    const committed = readdirSync(staticDir).sort();
    const names = [...new Set([...built, ...committed])];
    const stale = names.filter((name) => {
      try {
        return !readFileSync(join(outDir, name)).equals(readFileSync(join(staticDir, name)));
      } catch {
        return true; // only on one side
      }
    });
    if (stale.length) {
      console.error(`innspector_tb/static is stale (${stale.join(", ")}): run 'make frontend' and commit the result.`);
      process.exit(1);
    }
    console.log("innspector_tb/static is fresh");
  } finally {
    rmSync(outDir, { recursive: true, force: true });
  }
}

const mode = process.argv[2];
if (mode === "--check") await check();
else if (mode === "--tests") await buildTests();
else await buildBundle(staticDir);
