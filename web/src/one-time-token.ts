// The invite page (/one-time-token), as Hakanai v3's: a token holder mints one-time tokens
// (`POST /api/v1/one-time-token`) and hands each on as a `/create#<token>` link; the create
// page takes the token from the fragment, which never reaches a server.

import { $, boot, copyText, ready, say, show } from "./common";
import { ApiError, NetworkError, mintOneTimeToken } from "./api";
import { t } from "./i18n";
import "./i18n-create";
import "./i18n-ott";

const form = $<HTMLFormElement>("ott-form");
const tokenInput = $<HTMLInputElement>("token");
const button = $<HTMLButtonElement>("mint-button");
const error = $("ott-error");
let busy = false;

function fail(message: () => string): void {
  say(error, message);
  show(error, true);
  error.focus();
}

function inviteItem(link: string, n: number): HTMLLIElement {
  const li = document.createElement("li");
  li.className = "copy-row";
  const input = document.createElement("input");
  input.readOnly = true;
  input.value = link;
  input.id = `invite-${n}`;
  input.className = "invite-link";
  input.setAttribute("aria-label", t("ott.link", { n }));
  const copy = document.createElement("button");
  copy.type = "button";
  copy.dataset.copyTarget = input.id;
  copy.dataset.i18n = "result.copyLink";
  copy.textContent = t("result.copyLink");
  copy.addEventListener("click", () => void copyText(link, copy, "result.copyLink"));
  li.append(input, copy);
  return li;
}

async function onMint(ev: SubmitEvent): Promise<void> {
  ev.preventDefault();
  if (busy) return;
  show(error, false);
  if (!tokenInput.value.trim()) {
    fail(() => t("ott.err.missing"));
    tokenInput.focus();
    return;
  }
  busy = true;
  button.disabled = true;
  try {
    const minted = await mintOneTimeToken(tokenInput.value);
    const list = $<HTMLUListElement>("invite-list");
    const link = `${location.origin}/create#${encodeURIComponent(minted.token)}`;
    list.append(inviteItem(link, list.childElementCount + 1));
    show($("invites"), true);
    $("invites-heading").focus();
  } catch (e) {
    if (e instanceof ApiError) {
      if (e.status === 401 || e.status === 403) fail(() => t("ott.err.refused"));
      else fail(() => t("create.err.server", { details: e.details }));
    } else if (e instanceof NetworkError) {
      fail(() => t("create.err.network"));
    } else {
      fail(() => String(e));
    }
  } finally {
    busy = false;
    button.disabled = false;
  }
}

async function main(): Promise<void> {
  form.addEventListener("submit", (e) => void onMint(e));
  await boot("none");
  ready();
}

void main();
