import { test, expect, createSecret, reveal, screenshot } from "../fixtures";

test("embedding: a third-party app on another origin creates and opens secrets through the npm package", async ({ page, newContext, baseURL }, info) => {
  const example = process.env.HK_EXAMPLE_URL!;
  const app = await (await newContext()).newPage();
  await app.goto(`${example}/embed.html?server=${encodeURIComponent(baseURL)}`);
  await expect(app.locator("html[data-ready=true]")).toHaveCount(1);

  // Created in the other app, opened in Hakanai's page.
  await app.getByLabel("Secret").fill("from the helpdesk");
  await app.getByRole("button", { name: "Create link" }).click();
  await expect(app.locator("#link")).toHaveText(new RegExp(`^${baseURL}/s/`));
  const link = (await app.locator("#link").textContent())!;
  await screenshot(app, info, "embed");
  const reader = await (await newContext()).newPage();
  await reveal(reader, link);
  await expect(reader.locator("#secret-text")).toHaveValue("from the helpdesk");

  // Created in Hakanai's page, opened in the other app.
  const created = await createSecret(page, { text: "to the helpdesk" });
  await app.getByLabel("Link to open").fill(created.link);
  await app.getByRole("button", { name: "Open" }).click();
  await expect(app.locator("#opened")).toHaveText("to the helpdesk");
  await expect(app.locator("#error")).toHaveText("");
});
