// Several files travel as one bundle (a tar stream; the format lives in crypto-core and
// is built and read by the wasm module). Here it is only streamed piece by piece.

// The bundle functions are in the full module only: it loads when a bundle is made (here) or
// opened (reveal-core.ts, which reads it with the module's BundleReader).

import { full } from "./wasm";

export type BundleEvent =
  | { type: "start"; name: string; size: number }
  | { type: "data"; bytes: Uint8Array }
  | { type: "end" };

/** The bundle's length (its `metadata.size`). */
export async function bundleTotal(files: File[]): Promise<number> {
  return (await full()).bundleSize(Float64Array.from(files, (f) => f.size));
}

/** The bundle's plaintext, piece by piece: header, file content in slices, padding; end. */
export async function* bundleParts(files: File[], piece: number): AsyncGenerator<Uint8Array> {
  const { bundleEnd, bundleFileHeader, bundlePadding } = await full();
  for (const f of files) {
    yield bundleFileHeader(f.name, f.size);
    for (let off = 0; off < f.size; off += piece) {
      yield new Uint8Array(await f.slice(off, off + piece).arrayBuffer());
    }
    const pad = bundlePadding(f.size);
    if (pad.length) yield pad;
  }
  yield bundleEnd();
}
