// The reveal page (/s/{id}#key). Nothing is fetched until the person presses Reveal; the
// key is read from the fragment, which is then removed from the address bar at once, and used
// only inside the wasm module (reveal-core.ts).

import { wasm } from "./wasm";
import { $, boot, errorCode, ready, show } from "./common";
import { fatal, linkMessage, page, wireReveal } from "./reveal-core";

function start(): void {
  const href = location.href;
  // The key leaves the address bar (and the history entry) the moment it has been read, before
  // anything can fail: a broken, refused or expired link must not leave it on screen either.
  if (location.hash) history.replaceState(null, "", location.pathname + location.search);
  let parsed: { id?: string; key?: string };
  try {
    parsed = wasm().parseLink(href);
  } catch (e) {
    fatal("link", () => linkMessage(errorCode(e)));
    return;
  }
  page.id = parsed.id ?? "";
  if (!page.id) return fatal("link", () => linkMessage("missing_id"));
  page.key = parsed.key;
  show($("key-row"), page.key === undefined);
  $<HTMLInputElement>("key").required = page.key === undefined;
  wireReveal();
}

async function main(): Promise<void> {
  await boot("open");
  start();
  ready();
}

void main();
