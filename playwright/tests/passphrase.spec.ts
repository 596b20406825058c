import { test, expect, createSecret, reveal, screenshot } from "../fixtures";

test("passphrase: wrong then right; the wrong attempt does not burn the secret", async ({ page, newContext }, info) => {
  const { link } = await createSecret(page, { text: "guarded", passphrase: "correct horse" });
  const reader = await (await newContext()).newPage();
  await reveal(reader, link);
  // The server says a passphrase is needed (costs no attempt); the field appears.
  const pass = reader.getByLabel("Passphrase", { exact: true });
  await expect(pass).toBeVisible();
  await expect(pass).toBeFocused();
  await pass.fill("wrong horse");
  await reader.getByRole("button", { name: "Reveal secret" }).click();
  await expect(reader.locator("#reveal-error")).toHaveAttribute("data-kind", "passphrase");
  await expect(reader.locator("#reveal-error")).toContainText("2 attempt(s) left");
  await screenshot(reader, info, "wrong-passphrase");
  await pass.fill("correct horse");
  await reader.getByRole("button", { name: "Reveal secret" }).click();
  await expect(reader.locator("#secret-text")).toHaveValue("guarded");
});

test("passphrase: too many wrong attempts destroy the secret", async ({ page, newContext }) => {
  const { link } = await createSecret(page, { text: "doomed", passphrase: "right" });
  const reader = await (await newContext()).newPage();
  await reveal(reader, link);
  const pass = reader.getByLabel("Passphrase", { exact: true });
  for (const attempt of ["w1", "w2"]) {
    await pass.fill(attempt);
    await reader.getByRole("button", { name: "Reveal secret" }).click();
    await expect(reader.locator("#reveal-error")).toContainText("attempt(s) left");
  }
  await pass.fill("w3");
  await reader.getByRole("button", { name: "Reveal secret" }).click();
  await expect(reader.locator("#failure")).toHaveAttribute("data-kind", "destroyed");
});
