import { test, expect, createSecret, reveal, openCreate, screenshot } from "../fixtures";

test("broken links: truncated key, bad characters, empty fragment", async ({ page, newContext }, info) => {
  const { link } = await createSecret(page, { text: "never opened" });
  const [base, key] = link.split("#");
  const ctx = await newContext();
  const cases: Array<[string, RegExp]> = [
    [`${base}#${key.slice(0, 30)}`, /wrong length/],
    [`${base}#${key.slice(0, 42)}!`, /characters that do not belong/],
    [`${base}#`, /key is missing/],
  ];
  let reader = await ctx.newPage();
  for (const [url, message] of cases) {
    // A fresh page each time: a fragment-only change would not reload the page.
    await reader.close();
    reader = await ctx.newPage();
    await reader.goto(url);
    await expect(reader.locator("#failure")).toHaveAttribute("data-kind", "link");
    await expect(reader.locator("#failure-text")).toContainText(message);
    await expect(reader.getByRole("button", { name: "Reveal secret" })).toBeHidden();
  }
  await screenshot(reader, info, "broken-link");
  // None of that consumed the secret.
  reader = await ctx.newPage();
  await reveal(reader, link);
  await expect(reader.locator("#secret-text")).toHaveValue("never opened");
});

test("a well-formed but wrong key reads nothing: 'does not exist … or the link is incomplete', and the right link still opens", async ({ page, newContext }) => {
  const { link } = await createSecret(page, { text: "still here" });
  const [base] = link.split("#");
  const ctx = await newContext();
  const wrong = await ctx.newPage();
  await reveal(wrong, `${base}#${"A".repeat(43)}`);
  await expect(wrong.locator("#failure")).toHaveAttribute("data-kind", "not-found");
  await expect(wrong.locator("#failure-text")).toContainText("the link is incomplete");
  const right = await ctx.newPage();
  await reveal(right, link);
  await expect(right.locator("#secret-text")).toHaveValue("still here");
});

test("unknown secret id gives 'does not exist or has expired'", async ({ page }) => {
  await page.goto("/s/AAAAAAAAAAAAAAAAAAAAAA#" + "A".repeat(43));
  await expect(page.locator("html[data-ready=true]")).toHaveCount(1);
  await page.getByRole("button", { name: "Reveal secret" }).click();
  await expect(page.locator("#failure")).toHaveAttribute("data-kind", "not-found");
  await expect(page.locator("#failure-text")).toContainText("does not exist or has expired");
});

test("expired secret (4 s TTL) gives 'does not exist or has expired'", async ({ page, newContext }) => {
  // The page offers minutes and up; the upload's TTL header is shortened on the way.
  await page.route("**/api/v1/secret", (route) =>
    route.continue({ headers: { ...route.request().headers(), "x-secret-ttl": "4" } }),
  );
  const { link } = await createSecret(page, { text: "short-lived" });
  const status = page.locator("#status");
  const check = page.getByRole("button", { name: "Check status" });
  // Stored first, as the server says (the page starts at "pending" on its own): a failed
  // upload must not pass the not-found below.
  const [first] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith("/status")),
    check.click(),
  ]);
  expect(await first.json()).toMatchObject({ status: "pending" });
  await expect(status).toHaveAttribute("data-status", "pending");
  // Then gone by the store's TTL alone, polled rather than a fixed wait.
  await expect(async () => {
    await check.click();
    await expect(status).toHaveAttribute("data-status", "expired", { timeout: 500 });
  }).toPass({ timeout: 15_000 });
  await expect(status).toHaveText("Expired");
  const reader = await (await newContext()).newPage();
  await reveal(reader, link);
  await expect(reader.locator("#failure")).toHaveAttribute("data-kind", "not-found");
});

test("separate key: link without key, key typed on the reveal page; a bad key is refused inline", async ({ page, newContext }) => {
  const { link, key } = await createSecret(page, { text: "two channels", separate: true });
  expect(link).not.toContain("#");
  expect(key).toMatch(/^[A-Za-z0-9_-]{43}$/);
  await expect(page.getByLabel("Key (send it separately)")).toHaveValue(key);
  const reader = await (await newContext()).newPage();
  await reader.goto(link);
  const field = reader.getByLabel("Key", { exact: true });
  await expect(field).toBeVisible();
  await field.fill(key.slice(0, 20));
  await reader.getByRole("button", { name: "Reveal secret" }).click();
  await expect(reader.locator("#reveal-error")).toContainText("wrong length");
  // Pasting "#key" works as well as the bare key.
  await field.fill(`#${key}`);
  await reader.getByRole("button", { name: "Reveal secret" }).click();
  await expect(reader.locator("#secret-text")).toHaveValue("two channels");
});

test("sender controls: status turns to read; delete-now makes a later reveal fail", async ({ page, newContext }, info) => {
  const { link } = await createSecret(page, { text: "watch me" });
  await expect(page.locator("#status")).toHaveText("Not read yet");
  const reader = await (await newContext()).newPage();
  await reveal(reader, link);
  await expect(reader.locator("#secret-text")).toHaveValue("watch me");
  await page.getByRole("button", { name: "Check status" }).click();
  await expect(page.locator("#status")).toHaveText("Read");
  await expect(page.getByRole("button", { name: "Delete now" })).toBeDisabled();

  await page.getByRole("button", { name: "Share another secret" }).click();
  const second = await createSecret(page, { text: "delete me" });
  await page.getByRole("button", { name: "Delete now" }).click();
  await expect(page.locator("#status")).toHaveText("Deleted");
  await screenshot(page, info, "deleted");
  const late = await (await newContext()).newPage();
  await reveal(late, second.link);
  await expect(late.locator("#failure")).toHaveAttribute("data-kind", "gone");
});

test("empty input is refused before any upload; size limit and TTL presets come from /config.json", async ({ page }) => {
  await openCreate(page);
  let uploads = 0;
  page.on("request", (r) => {
    if (r.method() === "POST") uploads++;
  });
  await page.getByRole("button", { name: "Create secret link" }).click();
  await expect(page.locator("#create-error")).toContainText("Enter a text");
  await expect(page.locator("#limit")).toContainText("Limit: 64 MiB");
  // TTL presets stop at the server's maximum (7 days by default), then "Custom…"; one hour is
  // chosen, as on Hakanai v3's page.
  const ttls = await page.locator("#ttl option").evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value));
  expect(ttls).toEqual(["300", "3600", "86400", String(3 * 86400), String(7 * 86400), "custom"]);
  await expect(page.locator("#ttl")).toHaveValue("3600");
  expect(uploads).toBe(0);
});

test("restriction not met (403) gets its own message and does not burn the secret", async ({ page, newContext }) => {
  // The page has no restriction options; the sender's upload gets an IP restriction on the way.
  await page.route("**/api/v1/secret", (route) =>
    route.continue({ headers: { ...route.request().headers(), "x-secret-allowed-ips": "203.0.113.0/24" } }),
  );
  const { link } = await createSecret(page, { text: "office only" });
  const reader = await (await newContext()).newPage();
  await reveal(reader, link);
  await expect(reader.locator("#failure")).toHaveAttribute("data-kind", "forbidden");
  await expect(reader.locator("#failure-text")).toContainText("restriction");
  await page.getByRole("button", { name: "Check status" }).click();
  await expect(page.locator("#status")).toHaveText("Not read yet");
});
