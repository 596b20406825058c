// What the page loads, and when: the small wasm module first where WebCrypto exists, the full
// one only for what needs it (no WebCrypto, QR code, bundles, Hakanai v3), Argon2id in a
// Worker (web/src/wasm.ts).
import type { Page, Request } from "@playwright/test";
import { test, expect, createSecret, openCreate, reveal } from "../fixtures";

const SEAL = "/hakanai_wasm_seal_bg.wasm";
const OPEN = "/hakanai_wasm_open_bg.wasm";
const FULL = "/hakanai_wasm_bg.wasm";

/** The paths the page (and its workers) fetched, in order. */
function recordPaths(page: Page): string[] {
  const paths: string[] = [];
  page.on("request", (r: Request) => paths.push(new URL(r.url()).pathname));
  return paths;
}

test("first load: a small module with WebCrypto (encrypting to create, decrypting to reveal), the full one without", async ({ page, newContext, hideSubtle }) => {
  const paths = recordPaths(page);
  const { link } = await createSecret(page, { text: "small modules" });
  expect(paths.filter((p) => p.endsWith(".wasm"))[0]).toBe(hideSubtle ? FULL : SEAL);
  await expect(page.locator("#backend")).toHaveAttribute("data-backend", hideSubtle ? "pure" : "webcrypto");
  const reader = await (await newContext()).newPage();
  const read = recordPaths(reader);
  await reveal(reader, link);
  await expect(reader.locator("#secret-text")).toHaveValue("small modules");
  expect(read.filter((p) => p.endsWith(".wasm"))).toEqual([hideSubtle ? FULL : OPEN]);
  // The invite page has no crypto: no module at all.
  const invite = await (await newContext()).newPage();
  const none = recordPaths(invite);
  await invite.goto("/one-time-token");
  await expect(invite.locator("html[data-ready=true]")).toHaveCount(1);
  expect(none.filter((p) => p.endsWith(".wasm"))).toEqual([]);
  await expect(invite.locator("#backend")).toHaveAttribute("data-backend", hideSubtle ? "pure" : "webcrypto");
});

test("the QR code comes with the full module, after the secret is stored", async ({ page, hideSubtle }) => {
  const paths = recordPaths(page);
  await createSecret(page, { text: "qr please" });
  await expect(page.locator("#qr")).toHaveAttribute("src", /^data:image\/svg\+xml;base64,/);
  const wasm = paths.filter((p) => p.endsWith(".wasm"));
  expect(wasm).toEqual(hideSubtle ? [FULL] : [SEAL, FULL]);
  // The module came after the upload: the page was ready, and the secret stored, without it.
  if (!hideSubtle) expect(paths.indexOf(FULL)).toBeGreaterThan(paths.indexOf("/api/v1/secret"));
});

test("a passphrase is stretched in a Worker; both sides of it open the secret", async ({ page, newContext }) => {
  const workers: string[] = [];
  page.on("worker", (w) => workers.push(new URL(w.url()).pathname));
  const { link } = await createSecret(page, { text: "stretched", passphrase: "worker pass" });
  expect(workers).toEqual(["/kdf-worker.js"]);
  const reader = await (await newContext()).newPage();
  const readerWorkers: string[] = [];
  reader.on("worker", (w) => readerWorkers.push(new URL(w.url()).pathname));
  await reveal(reader, link);
  await reader.getByLabel("Passphrase", { exact: true }).fill("worker pass");
  await reader.getByRole("button", { name: "Reveal secret" }).click();
  await expect(reader.locator("#secret-text")).toHaveValue("stretched");
  expect(readerWorkers).toEqual(["/kdf-worker.js"]);
});

test("an envelope made with other Argon2id parameters is read again with them (nothing lost)", async ({ page, newContext }) => {
  await openCreate(page);
  // Another program's envelope: the full module, non-default parameters, and no passphrase
  // check on the server, so the page learns the parameters only from the header.
  const made = await page.evaluate(async () => {
    const m = await import(new URL("/hakanai_wasm.js", location.href).href);
    await m.default();
    const key: string = m.generateKey();
    const keys = new m.SecretKeys(key, "other params", { mCostKib: 8192, tCost: 1, pCost: 1 });
    const envelope: Uint8Array = await m.encrypt(new TextEncoder().encode("made elsewhere"), keys, { kind: "text" }, { backend: "pure" });
    const res = await fetch("/api/v1/secret", {
      method: "POST",
      headers: {
        "Content-Type": "application/octet-stream",
        "X-Secret-TTL": "3600",
        "X-Secret-Read-Token-Hash": keys.readTokenHash,
      },
      body: envelope as BlobPart,
    });
    keys.free();
    return { key, status: res.status, id: ((await res.json()) as { id: string }).id };
  });
  expect(made.status).toBe(200);
  const reader = await (await newContext()).newPage();
  await reader.goto("/get");
  await expect(reader.locator("html[data-ready=true]")).toHaveCount(1);
  await reader.getByLabel("Link or secret id").fill(made.id);
  await reader.getByLabel("Key (if not in the link)").fill(made.key);
  await reader.getByLabel("Passphrase (if the secret has one)").fill("other params");
  await reader.getByRole("button", { name: "Reveal secret" }).click();
  await expect(reader.locator("#secret-text")).toHaveValue("made elsewhere");
});
