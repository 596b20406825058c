// The get page (/get): a pasted link — ours (`…/s/{id}#key`) or Hakanai v3's
// (`…/s/{ULID}#key:hash`) — or an id with its key given separately, plus an optional
// passphrase; then the same read as the reveal page (reveal-core.ts). Links, ids and keys are
// read by the wasm module; this file only hands it the text of the fields.

import { wasm } from "./wasm";
import { $, boot, errorCode, ready } from "./common";
import { inline, linkMessage, page, wireReveal } from "./reveal-core";

const linkInput = $<HTMLInputElement>("link");
const passInput = $<HTMLInputElement>("passphrase");

/** The id and the key in the link, or an id alone (then the key field must hold the key). */
function readLink(text: string): { id?: string; key?: string } {
  try {
    return wasm().parseLink(text);
  } catch (first) {
    // Not a link: perhaps a bare secret id. buildLink checks it; parseLink reads it back.
    try {
      return wasm().parseLink(wasm().buildLink(location.origin, text.trim(), undefined));
    } catch {
      throw first;
    }
  }
}

function prepare(): boolean {
  let parsed: { id?: string; key?: string };
  try {
    parsed = readLink(linkInput.value);
  } catch (e) {
    inline("link", () => linkMessage(errorCode(e)));
    linkInput.focus();
    return false;
  }
  if (!parsed.id) {
    inline("link", () => linkMessage("missing_id"));
    linkInput.focus();
    return false;
  }
  if (parsed.id !== page.id) page.needsPassphrase = false;
  page.id = parsed.id;
  page.key = parsed.key;
  if (passInput.value) page.needsPassphrase = true;
  return true;
}

async function main(): Promise<void> {
  await boot("open");
  wireReveal(prepare);
  ready();
}

void main();
