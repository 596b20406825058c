// The passphrase Worker: Argon2id (about a second of CPU and 19 MiB) off the page's thread, in
// the full wasm module, which only passphrase users download. It answers each job with the
// 32-byte passphrase key (crypto-core's `PassphrasePrk`) or the module's error code.

import { errorCode, full } from "./wasm";

interface Job {
  job: number;
  key: string;
  passphrase: string;
  argon2: { mCostKib?: number; tCost?: number; pCost?: number };
}

const scope = self as unknown as Worker;

scope.onmessage = async (ev: MessageEvent<Job>) => {
  const { job, key, passphrase, argon2 } = ev.data;
  try {
    const prk = (await full()).passphrasePrk(key, passphrase, argon2);
    scope.postMessage({ job, prk }, [prk.buffer]);
  } catch (e) {
    scope.postMessage({ job, error: { code: errorCode(e), message: e instanceof Error ? e.message : String(e) } });
  }
};
