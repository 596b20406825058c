// Assembles web/dist: bundles src/create.ts and src/reveal.ts with esbuild (the npm package
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
  entryPoints: [join(web, "src", "create.ts"), join(web, "src", "reveal.ts")],
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

cpSync(join(web, "static"), dist, { recursive: true });
for (const f of ["hakanai_wasm.js", "hakanai_wasm_bg.wasm"]) copyFileSync(join(pkg, f), join(dist, f));
console.log(`web: assembled ${dist}`);
