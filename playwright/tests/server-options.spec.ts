import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, expect, reveal } from "../fixtures";

test("token: when anonymous uploads are off, the page asks for a token and refuses without one", async ({ newContext }) => {
  const ctx = await newContext();
  const page = await ctx.newPage();
  await page.goto(`${process.env.HK_TOKEN_URL}/`);
  await expect(page.locator("html[data-ready=true]")).toHaveCount(1);
  const token = page.getByLabel("Access token", { exact: true });
  await expect(token).toBeVisible();
  await expect(page.locator("#limit")).toContainText("Limit: 10 MiB");
  await page.getByLabel("Secret text", { exact: true }).fill("needs a token");
  await token.fill("not-a-valid-token");
  await page.getByRole("button", { name: "Create secret link" }).click();
  await expect(page.locator("#create-error")).toContainText("needs an access token");
  await token.fill(process.env.HK_USER_TOKEN!);
  await page.getByRole("button", { name: "Create secret link" }).click();
  await expect(page.getByRole("heading", { name: "Your secret link" })).toBeVisible();
  const link = await page.locator("#link").inputValue();
  const reader = await ctx.newPage();
  await reveal(reader, link);
  await expect(reader.locator("#secret-text")).toHaveValue("needs a token");
});

test("token field: hidden on an anonymous server unless ?show_token asks (Hakanai v3's rule)", async ({ page }) => {
  await page.goto("/");
  await expect(page.locator("html[data-ready=true]")).toHaveCount(1);
  await expect(page.locator("#token-row")).toBeHidden();
  await page.goto("/?show_token=1");
  await expect(page.locator("html[data-ready=true]")).toHaveCount(1);
  await expect(page.getByLabel("Access token (optional, for larger secrets)", { exact: true })).toBeVisible();
});

test("invite link: /create#<one-time token> fills the token, leaves the address bar, and works once", async ({ newContext, request }) => {
  const base = process.env.HK_TOKEN_URL!;
  const minted = await request.post(`${base}/api/v1/one-time-token`, {
    headers: { Authorization: `Bearer ${process.env.HK_USER_TOKEN}` },
  });
  expect(minted.status()).toBe(200);
  const { token: invite } = (await minted.json()) as { token: string };
  const ctx = await newContext();
  const page = await ctx.newPage();
  await page.goto(`${base}/create#${invite}`);
  await expect(page.locator("html[data-ready=true]")).toHaveCount(1);
  expect(new URL(page.url()).hash).toBe("");
  expect(new URL(page.url()).pathname).toBe("/create");
  await expect(page.getByLabel("Access token", { exact: true })).toHaveValue(invite);
  await page.getByLabel("Secret text", { exact: true }).fill("sent with an invite");
  await page.getByRole("button", { name: "Create secret link" }).click();
  await expect(page.getByRole("heading", { name: "Your secret link" })).toBeVisible();
  const again = await request.post(`${base}/api/v1/secret`, {
    headers: { Authorization: `Bearer ${invite}` },
    data: { data: "eA==" },
  });
  expect(again.status()).toBe(403);
});

test("legal pages are linked in the footer when the server has them", async ({ page }) => {
  await page.goto("/");
  await expect(page.locator("html[data-ready=true]")).toHaveCount(1);
  await expect(page.locator("#legal")).toBeHidden();

  await page.goto(`${process.env.HK_TOKEN_URL}/`);
  await expect(page.locator("html[data-ready=true]")).toHaveCount(1);
  await expect(page.locator("#legal a")).toHaveCount(2);
  await expect(page.getByRole("link", { name: "Privacy" })).toHaveAttribute("rel", "noreferrer");
  await page.getByRole("link", { name: "Legal notice" }).click();
  await expect(page).toHaveURL(/\/impressum$/);
  await expect(page.getByText("Musterstraße 1")).toBeVisible();
});

test("a file over the size limit is refused before anything is uploaded", async ({ page }) => {
  const dir = mkdtempSync(join(tmpdir(), "hakanai-pw-"));
  try {
    const path = join(dir, "too-big.bin");
    writeFileSync(path, Buffer.alloc(11 * 1024 * 1024, 1));
    const posts: string[] = [];
    page.on("request", (r) => {
      if (r.method() === "POST") posts.push(r.url());
    });
    await page.goto(`${process.env.HK_TOKEN_URL}/`);
    await expect(page.locator("html[data-ready=true]")).toHaveCount(1);
    await page.getByLabel("Access token", { exact: true }).fill(process.env.HK_USER_TOKEN!);
    await page.getByLabel("Files", { exact: true }).check();
    await page.locator("#files").setInputFiles(path);
    await page.getByRole("button", { name: "Create secret link" }).click();
    await expect(page.locator("#create-error")).toContainText("the limit is 10 MiB");
    expect(posts).toEqual([]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
