// English and German strings. Elements carry `data-i18n` (text), `data-i18n-label`
// (aria-label) or `data-i18n-placeholder`; code calls `t(key, params)`.

const en = {
  "app.tagline": "One-time secrets, encrypted in your browser",
  "theme.toggle": "Switch colour theme",
  "theme.system": "Theme: system",
  "theme.light": "Theme: light",
  "theme.dark": "Theme: dark",
  "lang.label": "Language",
  "create.heading": "Share a secret",
  "create.kind": "What do you want to share?",
  "create.kind.text": "Text",
  "create.kind.files": "Files",
  "create.text": "Secret text",
  "create.text.placeholder": "Password, API key, note…",
  "create.files": "Choose files",
  "create.drop": "Drop files here or press to choose",
  "create.files.none": "No files chosen.",
  "create.files.remove": "Remove {name}",
  "create.files.total": "{count} file(s), {size} in total",
  "create.limit": "Limit: {size} per secret.",
  "create.ttl": "Expires after",
  "create.passphrase": "Passphrase (optional)",
  "create.passphrase.hint": "The reader must also type this. Tell it by another channel.",
  "create.separate": "Show link and key separately",
  "create.separate.hint": "Send the key through a different channel than the link.",
  "create.token": "Access token",
  "create.token.optional": "Access token (optional, for larger secrets)",
  "create.submit": "Create secret link",
  "create.busy.kdf": "Deriving a key from the passphrase…",
  "create.busy.upload": "Uploading… {percent}%",
  "create.busy.send": "Encrypting and uploading… {percent}%",
  "create.err.empty": "Enter a text or choose at least one file.",
  "create.err.tooLarge": "This secret is {size}; the limit is {limit}.",
  "create.err.token": "This server needs an access token. The token was missing or not accepted.",
  "create.err.server": "The server refused the secret: {details}",
  "create.err.network": "Could not reach the server. Check your connection and try again.",
  "ttl.minutes": "{n} minutes",
  "ttl.hour": "1 hour",
  "ttl.hours": "{n} hours",
  "ttl.day": "1 day",
  "ttl.days": "{n} days",
  "ttl.seconds": "{n} seconds",
  "result.heading": "Your secret link",
  "result.intro": "Anyone with this link can open the secret once. After that it is gone.",
  "result.link": "Link",
  "result.key": "Key (send it separately)",
  "result.copy": "Copy",
  "result.copyLink": "Copy link",
  "result.copyKey": "Copy key",
  "result.copied": "Copied",
  "result.qr": "QR code of the link",
  "result.status": "Status",
  "result.refresh": "Check status",
  "result.delete": "Delete now",
  "result.another": "Share another secret",
  "status.pending": "Not read yet",
  "status.read": "Read",
  "status.revoked": "Deleted",
  "status.destroyed": "Destroyed after too many wrong passphrases",
  "status.expired": "Expired",
  "status.unknown": "Unknown",
  "status.error": "Could not check the status.",
  "reveal.heading": "Someone shared a secret with you",
  "reveal.intro": "It can be opened exactly once. Nothing is loaded until you press the button.",
  "reveal.key": "Key",
  "reveal.key.hint": "This link has no key. Enter the key you received separately.",
  "reveal.passphrase": "Passphrase",
  "reveal.passphrase.hint": "This secret is protected by a passphrase.",
  "reveal.button": "Reveal secret",
  "reveal.busy.kdf": "Deriving a key from the passphrase…",
  "reveal.busy.download": "Loading… {percent}%",
  "reveal.busy.decrypt": "Decrypting…",
  "reveal.text": "Secret text",
  "reveal.copy": "Copy text",
  "reveal.files": "Files",
  "reveal.download": "Download {name} ({size})",
  "reveal.downloadAll": "Download all ({name})",
  "reveal.gone.note": "The secret has been deleted from the server. Save it now; reloading will not bring it back.",
  "reveal.err.title": "This secret cannot be opened",
  "reveal.err.gone": "This secret has already been opened or was deleted. Secrets can be read only once.",
  "reveal.err.notFound": "This secret does not exist or has expired, or the link is incomplete: check that you copied all of it, including the part after #.",
  "reveal.err.passphrase": "Wrong passphrase. {n} attempt(s) left before the secret is destroyed.",
  "reveal.err.passphraseDestroyed": "Wrong passphrase. The secret has been destroyed.",
  "reveal.err.forbidden": "This secret cannot be opened from here (a restriction set by the sender is not met).",
  "reveal.err.link": "The link is broken: {detail} Ask the sender for the complete link.",
  "reveal.err.decrypt": "The secret could not be decrypted: the key does not match or the data was damaged.",
  "reveal.err.network": "Could not reach the server. Check your connection and try again.",
  "reveal.err.server": "The server reported an error: {details}",
  "link.missing_key": "the key is missing.",
  "link.key_length": "the key has the wrong length (it may be cut off).",
  "link.key_charset": "the key contains characters that do not belong in it.",
  "link.key_encoding": "the key's last character is wrong.",
  "link.legacy_hash_format": "the check value after the key (after ':') is damaged.",
  "link.missing_id": "the secret id is missing.",
  "link.invalid_id": "the secret id is invalid.",
  "link.empty_link": "it is empty.",
  "link.other": "it could not be read.",
  "footer.zk": "Encrypted and decrypted in your browser; the server never sees the key.",
  "footer.backend.webcrypto": "Encryption: WebCrypto",
  "footer.backend.pure": "Encryption: WebAssembly (WebCrypto is not available here)",
  "footer.impressum": "Legal notice",
  "footer.privacy": "Privacy",
  "footer.create": "Share a secret",
  "get.heading": "Open a secret",
  "get.intro": "Paste the link you received. It can be opened exactly once; nothing is loaded until you press the button.",
  "get.link": "Link or secret id",
  "get.link.hint": "A whole link (…/s/…#…), or only the id when the key came separately.",
  "get.key": "Key (if not in the link)",
  "get.key.hint": "Only needed when the link has no key (the part after #).",
  "get.passphrase": "Passphrase (if the secret has one)",
  "get.passphrase.hint": "Leave empty if the sender did not give you one.",
  "share.heading": "Share from the clipboard",
  "share.intro": "Copy the JSON your shortcut made, then press the button. The content is encrypted here before it is sent.",
  "share.format": "Expected: {\"data\": \"<base64>\", \"filename\": optional, \"token\": optional, \"ttl\": optional seconds}.",
  "share.read": "Read clipboard",
  "share.preview": "Ready to share",
  "share.kind": "Content",
  "share.kind.text": "Text",
  "share.kind.file": "File",
  "share.kind.bundle": "Several files",
  "share.size": "Size",
  "share.filename": "File name",
  "share.copied": "The link has been copied to the clipboard.",
  "share.err.permission": "The clipboard could not be read. Allow clipboard access for this site and try again.",
  "share.err.empty": "The clipboard is empty.",
  "share.err.json": "The clipboard does not hold valid JSON.",
  "share.err.data": "The JSON has no \"data\" field (base64 text).",
  "share.err.base64": "The \"data\" field is not valid base64.",
  "share.err.filename": "The \"filename\" field must be text.",
  "share.err.token": "The \"token\" field must be text.",
  "share.err.ttl": "The \"ttl\" field must be a positive number of seconds.",
  "share.err.target": "Nothing was shared. Open the app once, then share again; or read the clipboard.",
  "ott.heading": "Invite someone",
  "ott.intro": "Create a link that lets one person share one secret, with your upload limit.",
  "ott.token": "Your access token",
  "ott.token.hint": "Only sent to this server, to authorize the invitation.",
  "ott.submit": "Create invite link",
  "ott.result": "Invite links",
  "ott.result.intro": "Each link works once and expires. Send it to the person you invite.",
  "ott.link": "Invite link {n}",
  "ott.err.missing": "Enter your access token.",
  "ott.err.refused": "This token may not create invitations (unknown, expired, or itself a one-time token).",
  "footer.get": "Open a secret",
  "create.ttl.value": "Custom duration",
  "create.ttl.unit": "Unit",
  "create.ttl.max": "At most {max}.",
  "ttl.custom": "Custom…",
  "ttl.unit.minutes": "minutes",
  "ttl.unit.hours": "hours",
  "ttl.unit.days": "days",
  "create.err.ttl": "Enter a whole number of at least 1 for the custom expiry; this server allows at most {max}.",
  "create.restrict": "Restrict who can open it (optional)",
  "create.restrict.intro": "The server checks these before it hands the secret out. Leave a field empty to allow everyone.",
  "create.restrict.ips": "Allowed IP addresses or ranges",
  "create.restrict.ips.hint": "Separated by commas, such as 203.0.113.7, 198.51.100.0/24, 2001:db8::/32.",
  "create.restrict.countries": "Allowed countries",
  "create.restrict.countries.hint": "Two-letter country codes separated by commas, such as DE, AT, CH.",
  "create.restrict.asns": "Allowed networks (AS numbers)",
  "create.restrict.asns.hint": "Autonomous system numbers separated by commas, such as 64500 or AS64500.",
  "create.err.ips": "“{entry}” is not an IP address or range (such as 203.0.113.7 or 203.0.113.0/24).",
  "create.err.countries": "“{entry}” is not a two-letter country code (such as DE).",
  "create.err.asns": "“{entry}” is not an AS number (such as 64500 or AS64500).",
  "create.err.unsupported": "This server cannot check country or network (ASN) restrictions. Remove them and try again.",
  "create.token.remember": "Remember the token for this session",
  "create.token.remember.hint": "Kept in this browser tab until it is closed; uncheck to forget it now.",
  "result.share": "Share…",
  "reveal.share": "Share…",
  "reveal.shareFile": "Share {name}",
  "reveal.err.unsupported": "This secret has a restriction (country or network) that this server cannot check, so it cannot be opened here.",
  "reveal.err.kdfRefused": "This secret asks for more passphrase work than this page will do: it was made by another program or has been modified.",
};

export type Key = keyof typeof en;


export const LANGS = ["en", "de"] as const;
export type Lang = (typeof LANGS)[number];

/** English is always here; another language arrives when a visitor first needs it. */
const dictionaries: Partial<Record<Lang, Record<Key, string>>> = { en };

export async function loadLang(lang: Lang): Promise<void> {
  if (lang === "de") dictionaries.de ??= (await import("./i18n-de")).de;
}

let current: Lang = "en";

/** Switches to `lang`, which `loadLang` has loaded. */
export function setLang(lang: Lang): void {
  current = lang;
}

export function lang(): Lang {
  return current;
}

export function t(key: Key, params: Record<string, string | number> = {}): string {
  let s: string = dictionaries[current]?.[key] ?? en[key];
  for (const [k, v] of Object.entries(params)) s = s.split(`{${k}}`).join(String(v));
  return s;
}

/** The stored choice, else the first supported browser language, else English. */
export function preferredLang(): Lang {
  const stored = localStorage.getItem("hakanai.lang");
  if (stored === "en" || stored === "de") return stored;
  for (const l of navigator.languages ?? [navigator.language]) {
    const base = l.toLowerCase().split("-")[0];
    if (base === "de" || base === "en") return base;
  }
  return "en";
}

export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  const num = i === 0 ? String(v) : v.toLocaleString(current, { maximumFractionDigits: 1 });
  return `${num} ${units[i]}`;
}
