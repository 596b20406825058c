// Assembles web/dist: bundles the pages (src/create.ts, reveal.ts, get.ts, share.ts,
// one-time-token.ts), the passphrase Worker (src/kdf-worker.ts) and the service worker
// (src/sw.ts) with esbuild; the wasm modules stay separate files (the full package's
// /hakanai_wasm.js and the small /hakanai_wasm_seal.js and /hakanai_wasm_open.js, see src/wasm.ts); copies static/.
// Type checking is `tsc -p web` (run by `cargo xtask web` before this script).
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
// The page's small modules, built beside the package (`cargo xtask wasm`).
const small = ["seal", "open"];

rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });

// The pages load the wasm modules at run time (src/wasm.ts picks the small or the full one);
// a value import of the package itself would put one of them in every page's bundle.
const wasmExternal = {
  name: "hakanai-wasm-external",
  setup(b) {
    b.onResolve({ filter: /^hakanai-wasm$/ }, (args) => {
      throw new Error(`${args.importer}: import the wasm module through src/wasm.ts (types only from "hakanai-wasm")`);
    });
  },
};

// What every build below shares.
const common = { target: "es2022", minify: true, logLevel: "warning" };

await build({
  ...common,
  entryPoints: ["create", "reveal", "get", "share", "one-time-token"].map((n) => join(web, "src", `${n}.ts`)),
  outdir: dist,
  bundle: true,
  splitting: true,
  format: "esm",
  sourcemap: false,
  chunkNames: "chunk-[hash]",
  plugins: [wasmExternal],
});

// The passphrase Worker stands alone too (a module Worker at /kdf-worker.js).
await build({
  ...common,
  entryPoints: [join(web, "src", "kdf-worker.ts")],
  outfile: join(dist, "kdf-worker.js"),
  bundle: true,
  format: "esm",
  plugins: [wasmExternal],
});

// The service worker stands alone: no shared chunks, loaded as a classic script at /sw.js.
await build({
  ...common,
  entryPoints: [join(web, "src", "sw.ts")],
  outfile: join(dist, "sw.js"),
  bundle: true,
  format: "iife",
});

cpSync(join(web, "static"), dist, { recursive: true });
// The wasm modules' glue (wasm-bindgen's JavaScript) comes unminified; minified it is about
// 3 KB gzip smaller, on every page. Each stays its own module (src/wasm.ts imports it by URL).
const modules = [{ dir: pkg, name: "hakanai_wasm" }, ...small.map((m) => ({ dir: `${pkg}-${m}`, name: `hakanai_wasm_${m}` }))];
for (const { dir, name } of modules) {
  copyFileSync(join(dir, `${name}_bg.wasm`), join(dist, `${name}_bg.wasm`));
  await build({ ...common, entryPoints: [join(dir, `${name}.js`)], outfile: join(dist, `${name}.js`), bundle: false, format: "esm" });
}
console.log(`web: assembled ${dist}`);
