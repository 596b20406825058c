// Assembles web/dist: bundles the pages (src/create.ts, reveal.ts, get.ts, share.ts,
// one-time-token.ts) and the service worker (src/sw.ts) with esbuild (the npm package
// `hakanai-wasm` stays a separate module, /hakanai_wasm.js), copies static/ and the wasm
// package. Type checking is `tsc -p web` (run by `cargo xtask web` before this script).
// `--out-dir DIR` and `--pkg-dir DIR` replace web/dist and web-wasm/pkg (the server's build
// script assembles the page it embeds under its target directory).
import { build } from "esbuild";
import { cpSync, mkdirSync, rmSync, copyFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const web = dirname(fileURLToPath(import.meta.url));
const { values: opts } = parseArgs({ options: { "out-dir": { type: "string" }, "pkg-dir": { type: "string" } } });
const dist = opts["out-dir"] ? resolve(opts["out-dir"]) : join(web, "dist");
const pkg = opts["pkg-dir"] ? resolve(opts["pkg-dir"]) : join(web, "..", "web-wasm", "pkg");

rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });

const wasmExternal = {
  name: "hakanai-wasm-external",
  setup(b) {
    b.onResolve({ filter: /^hakanai-wasm$/ }, () => ({ path: "./hakanai_wasm.js", external: true }));
  },
};

await build({
  entryPoints: ["create", "reveal", "get", "share", "one-time-token"].map((n) => join(web, "src", `${n}.ts`)),
  outdir: dist,
  bundle: true,
  splitting: true,
  format: "esm",
  target: "es2022",
  minify: true,
  sourcemap: false,
  chunkNames: "chunk-[hash]",
  plugins: [wasmExternal],
  logLevel: "warning",
});

// The service worker stands alone: no shared chunks, loaded as a classic script at /sw.js.
await build({
  entryPoints: [join(web, "src", "sw.ts")],
  outfile: join(dist, "sw.js"),
  bundle: true,
  format: "iife",
  target: "es2022",
  minify: true,
  logLevel: "warning",
});

cpSync(join(web, "static"), dist, { recursive: true });
for (const f of ["hakanai_wasm.js", "hakanai_wasm_bg.wasm"]) copyFileSync(join(pkg, f), join(dist, f));
console.log(`web: assembled ${dist}`);
