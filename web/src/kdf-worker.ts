// The passphrase Worker: Argon2id (about a second of CPU and 19 MiB) off the page's thread, in
// the full wasm module, which only passphrase users download. It answers each job with the
// 32-byte passphrase key (crypto-core's `PassphrasePrk`) or the module's error code.

import type * as Wasm from "hakanai-wasm";

type Module = typeof Wasm;

interface Job {
  job: number;
  key: string;
  passphrase: string;
  argon2: { mCostKib?: number; tCost?: number; pCost?: number };
}

const scope = self as unknown as Worker;
let module: Promise<Module> | undefined;

function fullModule(): Promise<Module> {
  module ??= import(new URL("./hakanai_wasm.js", import.meta.url).href).then(async (m: Module) => {
    await m.default();
    return m;
  });
  return module;
}

scope.onmessage = async (ev: MessageEvent<Job>) => {
  const { job, key, passphrase, argon2 } = ev.data;
  try {
    const prk = (await fullModule()).passphrasePrk(key, passphrase, argon2);
    scope.postMessage({ job, prk }, [prk.buffer]);
  } catch (e) {
    const code = typeof e === "object" && e !== null && "code" in e ? (e as { code: string }).code : undefined;
    scope.postMessage({ job, error: { code, message: e instanceof Error ? e.message : String(e) } });
  }
};
