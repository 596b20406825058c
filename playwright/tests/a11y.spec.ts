import AxeBuilder from "@axe-core/playwright";
import { Page } from "@playwright/test";
import { test, expect, createSecret, openCreate, screenshot } from "../fixtures";

async function noViolations(page: Page, what: string): Promise<void> {
  const result = await new AxeBuilder({ page }).analyze();
  const summary = result.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
  expect(summary, `${what}: axe violations`).toEqual([]);
}

for (const scheme of ["light", "dark"] as const) {
  test(`accessibility (${scheme}): create, result and reveal pages have no axe violations`, async ({ newContext }, info) => {
    const ctx = await newContext({ colorScheme: scheme });
    const page = await ctx.newPage();
    await openCreate(page);
    await noViolations(page, "create (text)");
    await page.getByLabel("Files", { exact: true }).check();
    await noViolations(page, "create (files)");
    await screenshot(page, info, `create-${scheme}`);
    await page.getByLabel("Text", { exact: true }).check();

    const { link } = await createSecret(page, { text: "axe", passphrase: "pw" });
    await noViolations(page, "result");
    await screenshot(page, info, `result-${scheme}`);

    const reader = await ctx.newPage();
    await reader.goto(link);
    await expect(reader.locator("html[data-ready=true]")).toHaveCount(1);
    await noViolations(reader, "reveal");
    await screenshot(reader, info, `reveal-${scheme}`);
    await reader.getByRole("button", { name: "Reveal secret" }).click();
    await expect(reader.getByLabel("Passphrase", { exact: true })).toBeVisible();
    await reader.getByLabel("Passphrase", { exact: true }).fill("nope");
    await reader.getByRole("button", { name: "Reveal secret" }).click();
    await expect(reader.locator("#reveal-error")).toBeVisible();
    await noViolations(reader, "reveal (wrong passphrase)");
    await reader.getByLabel("Passphrase", { exact: true }).fill("pw");
    await reader.getByRole("button", { name: "Reveal secret" }).click();
    await expect(reader.locator("#secret-text")).toHaveValue("axe");
    await noViolations(reader, "reveal (text)");

    const gone = await ctx.newPage();
    await gone.goto(link);
    await gone.getByRole("button", { name: "Reveal secret" }).click();
    await expect(gone.locator("#failure")).toBeVisible();
    await noViolations(gone, "reveal (already read)");
  });
}

test("theme toggle overrides the system preference and is remembered", async ({ newContext }) => {
  const page = await (await newContext({ colorScheme: "light" })).newPage();
  await openCreate(page);
  const bg = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  const light = await bg();
  await page.getByRole("button", { name: "Theme: system" }).click();
  await expect(page.locator("html")).toHaveAttribute("data-theme", "light");
  await page.getByRole("button", { name: "Theme: light" }).click();
  await expect(page.locator("html")).toHaveAttribute("data-theme", "dark");
  expect(await bg()).not.toBe(light);
  await page.reload();
  await expect(page.locator("html")).toHaveAttribute("data-theme", "dark");
  await expect(page.getByRole("button", { name: "Theme: dark" })).toBeVisible();
});

test("German from the browser language, English by the switcher", async ({ newContext }, info) => {
  const page = await (await newContext({ locale: "de-DE" })).newPage();
  await openCreate(page);
  await expect(page.locator("html")).toHaveAttribute("lang", "de");
  await expect(page.getByRole("heading", { name: "Ein Geheimnis teilen" })).toBeVisible();
  await expect(page.getByLabel("Läuft ab nach")).toBeVisible();
  await expect(page.locator("#ttl option:checked")).toHaveText("1 Stunde");
  await screenshot(page, info, "create-de");
  // The reveal page follows the browser language too.
  const reveal = await page.context().newPage();
  await reveal.goto("/s/AAAAAAAAAAAAAAAAAAAAAA#" + "A".repeat(43));
  await expect(reveal.getByRole("button", { name: "Geheimnis anzeigen" })).toBeVisible();
  await reveal.getByRole("button", { name: "Geheimnis anzeigen" }).click();
  await expect(reveal.locator("#failure-text")).toContainText("existiert nicht oder ist abgelaufen");
  // A message already on screen follows a language switch too.
  await reveal.getByLabel("Sprache").selectOption("en");
  await expect(reveal.locator("#failure-text")).toContainText("does not exist or has expired");
  await page.getByLabel("Sprache").selectOption("en");
  await expect(page.getByRole("heading", { name: "Share a secret" })).toBeVisible();
  await expect(page.locator("#ttl option:checked")).toHaveText("1 hour");
  await expect(page.locator("html")).toHaveAttribute("lang", "en");
});

test("phone-sized screen and keyboard only: create and reveal without a mouse", async ({ newContext }, info) => {
  const ctx = await newContext();
  const page = await ctx.newPage();
  await page.setViewportSize({ width: 375, height: 740 });
  await openCreate(page);
  // No horizontal scrolling on a phone.
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
  // Tab from the top of the page to the text field, type, then Tab to the submit button.
  await page.keyboard.press("Tab"); // brand link
  let guard = 0;
  while (!(await page.locator("#text").evaluate((el) => el === document.activeElement)) && guard++ < 10) {
    await page.keyboard.press("Tab");
  }
  await page.keyboard.type("typed by keyboard");
  guard = 0;
  while (!(await page.locator("#submit").evaluate((el) => el === document.activeElement)) && guard++ < 15) {
    await page.keyboard.press("Tab");
  }
  await page.keyboard.press("Enter");
  await expect(page.getByRole("heading", { name: "Your secret link" })).toBeFocused();
  await screenshot(page, info, "result-phone");
  const link = await page.locator("#link").inputValue();

  const reader = await ctx.newPage();
  await reader.setViewportSize({ width: 375, height: 740 });
  await reader.goto(link);
  await expect(reader.locator("html[data-ready=true]")).toHaveCount(1);
  guard = 0;
  while (!(await reader.locator("#reveal").evaluate((el) => el === document.activeElement)) && guard++ < 10) {
    await reader.keyboard.press("Tab");
  }
  await reader.keyboard.press("Enter");
  await expect(reader.locator("#secret-text")).toHaveValue("typed by keyboard");
  await screenshot(reader, info, "reveal-phone");
  expect(await reader.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
});

test("the crypto backend is the one the project expects", async ({ page, hideSubtle }) => {
  await openCreate(page);
  await expect(page.locator("#backend")).toHaveAttribute("data-backend", hideSubtle ? "pure" : "webcrypto");
});

for (const scheme of ["light", "dark"] as const) {
  test(`accessibility (${scheme}): get, share, one-time-token and legal pages have no axe violations`, async ({ newContext }) => {
    const ctx = await newContext({ colorScheme: scheme });
    const page = await ctx.newPage();
    for (const path of ["/get", "/share", "/one-time-token"]) {
      await page.goto(path);
      await expect(page.locator("html[data-ready=true]")).toHaveCount(1);
      await noViolations(page, path);
    }
    await page.goto(`${process.env.HK_TOKEN_URL}/impressum`);
    await noViolations(page, "/impressum");
  });
}

for (const scheme of ["light", "dark"] as const) {
  test(`accessibility (${scheme}): restrictions, custom expiry, remembered token and an error on screen`, async ({ newContext, geoURL }) => {
    const ctx = await newContext({ colorScheme: scheme });
    const page = await ctx.newPage();
    // The geo server offers every restriction field; ?show_token shows the token row.
    await page.goto(`${geoURL}/?show_token=1`);
    await expect(page.locator("html[data-ready=true]")).toHaveCount(1);
    await page.getByText("Restrict who can open it (optional)").click();
    await expect(page.getByLabel("Allowed networks (AS numbers)")).toBeVisible();
    await page.getByLabel("Expires after").selectOption({ label: "Custom…" });
    await expect(page.getByLabel("Custom duration")).toBeVisible();
    await expect(page.getByLabel("Remember the token for this session")).toBeVisible();
    await noViolations(page, "create (all options)");
    await page.getByLabel("Secret text", { exact: true }).fill("x");
    await page.getByLabel("Allowed countries").fill("Germany");
    await page.getByRole("button", { name: "Create secret link" }).click();
    await expect(page.locator("#create-error")).toBeVisible();
    await noViolations(page, "create (invalid restriction)");
    await page.getByLabel("Language").selectOption("de");
    await expect(page.getByText("Erlaubte Länder")).toBeVisible();
    await noViolations(page, "create (all options, German)");
  });
}

// Every page once more in German (a German browser), in both themes: the translated labels,
// longer words and `lang="de"` get their own axe pass.
for (const scheme of ["light", "dark"] as const) {
  test(`accessibility (${scheme}, German): every page has no axe violations`, async ({ newContext }) => {
    const ctx = await newContext({ colorScheme: scheme, locale: "de-DE" });
    const page = await ctx.newPage();
    for (const path of ["/", "/create", "/get", "/share", "/one-time-token"]) {
      await page.goto(path);
      await expect(page.locator("html[data-ready=true]")).toHaveCount(1);
      await expect(page.locator("html")).toHaveAttribute("lang", "de");
      await noViolations(page, `${path} (German)`);
    }
    for (const path of ["/impressum", "/privacy", "/docs"]) {
      await page.goto(`${process.env.HK_TOKEN_URL}${path}`);
      await noViolations(page, `${path} (German)`);
    }

    // The result page: made in English, then switched, as a German reader's sender would see it.
    const sender = await (await newContext({ colorScheme: scheme })).newPage();
    await openCreate(sender);
    const { link } = await createSecret(sender, { text: "axe" });
    await sender.getByLabel("Language").selectOption("de");
    await expect(sender.locator("html")).toHaveAttribute("lang", "de");
    await noViolations(sender, "result (German)");

    const reader = await ctx.newPage();
    await reader.goto(link);
    await expect(reader.locator("html[data-ready=true]")).toHaveCount(1);
    await noViolations(reader, "reveal (German)");
    await reader.locator("#reveal").click();
    await expect(reader.locator("#secret-text")).toHaveValue("axe");
    await noViolations(reader, "reveal (text, German)");
    const gone = await ctx.newPage();
    await gone.goto(link);
    await gone.locator("#reveal").click();
    await expect(gone.locator("#failure")).toBeVisible();
    await noViolations(gone, "reveal (already read, German)");
  });
}
