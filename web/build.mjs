// Assembles web/dist: bundles src/create.ts and src/reveal.ts with esbuild (the npm package
// `hakanai-wasm` stays a separate module, /hakanai_wasm.js), copies static/ and the wasm
// package. Type checking is `tsc -p web` (run by `cargo xtask web` before this script).
import { build } from "esbuild";
import { cpSync, mkdirSync, rmSync, copyFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const web = dirname(fileURLToPath(import.meta.url));
const dist = join(web, "dist");
const pkg = join(web, "..", "web-wasm", "pkg");

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
