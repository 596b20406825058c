// Secrets stored by Hakanai v3's own CLI (the oracle binary) on this server open in the page:
// its `#key:hash` links, its ciphertext and payload, its passphrase scheme.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, expect, reveal, downloadHash, sha256 } from "../fixtures";
import { oldSend } from "../oracle";

test("a text secret from Hakanai v3's CLI opens in the page", async ({ page, baseURL }) => {
  const secret = `from hakanai v3 ${Date.now()} – äöü 🔑`;
  const link = oldSend(baseURL, [], secret);
  expect(link).toMatch(/\/s\/[0-9A-Z]{26}#[A-Za-z0-9_-]{43}:[A-Za-z0-9_-]{22}$/);
  await reveal(page, link);
  await expect(page.locator("#secret-text")).toHaveValue(secret);
  // The fragment is gone from the address bar once the secret is open.
  expect(new URL(page.url()).hash).toBe("");
});

test("a file from Hakanai v3's CLI downloads under its name", async ({ page, baseURL }) => {
  const dir = mkdtempSync(join(tmpdir(), "hk-v3-"));
  const file = join(dir, "contract.bin");
  const bytes = Buffer.from([0, 1, 2, 255, 254, 10, 0, 42]);
  writeFileSync(file, bytes);
  const link = oldSend(baseURL, ["--file", file]);
  await reveal(page, link);
  const got = await downloadHash(page, "contract.bin");
  expect(got.file).toBe("contract.bin");
  expect(got.hash).toBe(sha256(bytes));
});

test("a Hakanai v3 secret with a passphrase asks for it, then opens", async ({ page, baseURL }) => {
  const link = oldSend(baseURL, ["--require-passphrase", "correct horse battery"], "v3 guarded");
  await reveal(page, link);
  const pass = page.getByLabel("Passphrase", { exact: true });
  await expect(pass).toBeVisible();
  await pass.fill("wrong horse battery");
  await page.getByRole("button", { name: "Reveal secret" }).click();
  await expect(page.locator("#reveal-error")).toHaveAttribute("data-kind", "passphrase");
  await pass.fill("correct horse battery");
  await page.getByRole("button", { name: "Reveal secret" }).click();
  await expect(page.locator("#secret-text")).toHaveValue("v3 guarded");
});

test("a Hakanai v3 link with a damaged check value says so and reads nothing", async ({ page, baseURL, request }) => {
  const link = oldSend(baseURL, [], "check me");
  const [head, hash] = [link.slice(0, link.lastIndexOf(":")), link.slice(link.lastIndexOf(":") + 1)];
  const damaged = `${head}:${hash[0] === "A" ? "B" : "A"}${hash.slice(1)}`;
  await reveal(page, damaged);
  await expect(page.locator("#failure")).toHaveAttribute("data-kind", "decrypt");
  // The read consumed it (as with a wrong key): a second read is 410.
  const id = new URL(link).pathname.split("/").pop()!;
  expect((await request.get(`${baseURL}/api/v1/secret/${id}`)).status()).toBe(410);
});
