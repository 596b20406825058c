// Interop with the command-line client: a secret sent by `hakanai send` opens in the page, and
// one created in the page is fetched by `hakanai get` — the same crypto-core on both sides.
import { execFileSync } from "node:child_process";
import { join, resolve } from "node:path";
import { test, expect, createSecret, reveal } from "../fixtures";

const CLI =
  process.env.HAKANAI_CLI_BIN ??
  join(process.env.CARGO_TARGET_DIR ?? join(resolve(__dirname, "../.."), "target"), "debug/hakanai");

function hakanai(server: string, args: string[], input?: string): string {
  return execFileSync(CLI, args, {
    input,
    env: { ...process.env, HAKANAI_SERVER: server, HAKANAI_TOKEN: "" },
    encoding: "utf8",
  });
}

test("a secret sent by the CLI is revealed in the page", async ({ page, baseURL }) => {
  const secret = `from the cli ${Date.now()} – äöü`;
  const link = hakanai(baseURL, ["send", "--ttl", "10m"], secret).trim().split("\n")[0];
  expect(link).toMatch(/\/s\/[A-Za-z0-9_-]+#[A-Za-z0-9_-]{43}$/);
  await reveal(page, link);
  await expect(page.locator("#secret-text")).toHaveValue(secret);
});

test("a secret created in the page is fetched by the CLI", async ({ page, baseURL }) => {
  const secret = `from the page ${Date.now()} – 🔐`;
  const { link } = await createSecret(page, { text: secret });
  expect(hakanai(baseURL, ["get", link, "--to-stdout"])).toBe(secret);
});
