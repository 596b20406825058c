// Several files travel as one bundle (a tar stream; the format lives in crypto-core and
// is built and read by the wasm module). Here it is only streamed piece by piece.

import { BundleReader, bundleEnd, bundleFileHeader, bundlePadding, bundleSize } from "hakanai-wasm";

export type BundleEvent =
  | { type: "start"; name: string; size: number }
  | { type: "data"; bytes: Uint8Array }
  | { type: "end" };

/** The bundle's length (its `metadata.size`). */
export function bundleTotal(files: File[]): number {
  return bundleSize(Float64Array.from(files, (f) => f.size));
}

/** The bundle's plaintext, piece by piece: header, file content in slices, padding; end. */
export async function* bundleParts(files: File[], piece: number): AsyncGenerator<Uint8Array> {
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

export function bundleReader(): BundleReader {
  return new BundleReader();
}
