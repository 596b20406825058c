import { test, expect, createSecret, openCreate, reveal, screenshot } from "../fixtures";

test("text: create in one context, reveal in a fresh one, then already read", async ({ page, newContext }, info) => {
  // No CSP violation or script error anywhere in the flow.
  const problems: string[] = [];
  const watch = (p: import("@playwright/test").Page) => {
    p.on("console", (m) => {
      if (m.type() === "error") problems.push(`${p.url()}: ${m.text()}`);
    });
    p.on("pageerror", (e) => problems.push(`${p.url()}: ${e.message}`));
  };
  watch(page);
  const secret = `hello from playwright ${Date.now()} – äöü 🔐`;
  const { link } = await createSecret(page, { text: secret });
  expect(link).toMatch(/\/s\/[A-Za-z0-9_-]+#[A-Za-z0-9_-]{43}$/);
  await expect(page.locator("#status")).toHaveText("Not read yet");
  await expect(page.locator("#qr")).toHaveAttribute("src", /^data:image\/svg\+xml;base64,/);
  await screenshot(page, info, "result");
  await page.context().grantPermissions(["clipboard-read", "clipboard-write"], { origin: new URL(link).origin });
  await page.getByRole("button", { name: "Copy link" }).click();
  await expect(page.getByRole("button", { name: "Copied" })).toBeVisible();
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(link);

  const reader = await (await newContext()).newPage();
  watch(reader);
  await reveal(reader, link);
  await expect(reader.getByRole("heading", { name: "Secret text" })).toBeVisible();
  await expect(reader.locator("#secret-text")).toHaveValue(secret);
  await reader.context().grantPermissions(["clipboard-read", "clipboard-write"], { origin: new URL(link).origin });
  await reader.getByRole("button", { name: "Copy text" }).click();
  expect(await reader.evaluate(() => navigator.clipboard.readText())).toBe(secret);
  // The fragment is dropped from the address once the secret is consumed.
  expect(new URL(reader.url()).hash).toBe("");
  await screenshot(reader, info, "reveal-text");

  const late = await (await newContext()).newPage();
  await reveal(late, link);
  await expect(late.locator("#failure")).toHaveAttribute("data-kind", "gone");
  await expect(late.locator("#failure-text")).toContainText("already been opened");
  await screenshot(late, info, "already-read");
  // The 410 itself shows up as a failed resource in the console; anything else is a problem.
  expect(problems.filter((p) => !/status of 410/.test(p))).toEqual([]);
});

test("text: Ctrl+Enter in the text area creates the link", async ({ page }) => {
  await openCreate(page);
  const text = page.getByLabel("Secret text", { exact: true });
  await text.fill("sent from the keyboard");
  await text.press("Control+Enter");
  await expect(page.getByRole("heading", { name: "Your secret link" })).toBeVisible();
});
