// Secrets stored by Hakanai v3's own CLI (the oracle binary) on this server open in the page:
// its `#key:hash` links, its ciphertext and payload, its passphrase scheme.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { test, expect, reveal, downloadHash, sha256 } from "../fixtures";

/** `shared/oracle/hakanai-3.0.7/` beside the checkout or one of its parents, or HAKANAI_ORACLE_DIR. */
function oracleDir(): string {
  if (process.env.HAKANAI_ORACLE_DIR) return process.env.HAKANAI_ORACLE_DIR;
  for (let dir = resolve(__dirname, ".."); ; dir = dirname(dir)) {
    const candidate = join(dir, "shared/oracle/hakanai-3.0.7");
    if (existsSync(join(candidate, "hakanai"))) return candidate;
    if (dirname(dir) === dir) throw new Error("Hakanai v3's CLI not found (set HAKANAI_ORACLE_DIR)");
  }
}

const ORACLE = join(oracleDir(), "hakanai");

/** `hakanai send` of Hakanai 3.0.7, anonymously; returns the link it printed. */
function oldSend(server: string, args: string[], input = ""): string {
  const out = execFileSync(ORACLE, ["send", ...args], {
    input,
    env: { PATH: process.env.PATH, HAKANAI_SERVER: server, NO_COLOR: "1" },
    encoding: "utf8",
  });
  // It colours its output even into a pipe.
  const plain = out.replace(/\x1b\[[0-9;]*m/g, "");
  const link = /Secret link:\s*(\S+)/.exec(plain)?.[1];
  if (!link) throw new Error(`no link in ${JSON.stringify(plain)}`);
  return link;
}

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
