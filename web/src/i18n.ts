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
  "reveal.err.notFound": "This secret does not exist or has expired.",
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
};

export type Key = keyof typeof en;

const de: Record<Key, string> = {
  "app.tagline": "Einmal-Geheimnisse, verschlüsselt in Ihrem Browser",
  "theme.toggle": "Farbschema wechseln",
  "theme.system": "Schema: System",
  "theme.light": "Schema: hell",
  "theme.dark": "Schema: dunkel",
  "lang.label": "Sprache",
  "create.heading": "Ein Geheimnis teilen",
  "create.kind": "Was möchten Sie teilen?",
  "create.kind.text": "Text",
  "create.kind.files": "Dateien",
  "create.text": "Geheimer Text",
  "create.text.placeholder": "Passwort, API-Schlüssel, Notiz…",
  "create.files": "Dateien auswählen",
  "create.drop": "Dateien hierher ziehen oder zum Auswählen drücken",
  "create.files.none": "Keine Dateien ausgewählt.",
  "create.files.remove": "{name} entfernen",
  "create.files.total": "{count} Datei(en), insgesamt {size}",
  "create.limit": "Grenze: {size} pro Geheimnis.",
  "create.ttl": "Läuft ab nach",
  "create.passphrase": "Passphrase (optional)",
  "create.passphrase.hint": "Die Person muss sie ebenfalls eingeben. Teilen Sie sie auf anderem Weg mit.",
  "create.separate": "Link und Schlüssel getrennt anzeigen",
  "create.separate.hint": "Schicken Sie den Schlüssel auf einem anderen Weg als den Link.",
  "create.token": "Zugangstoken",
  "create.token.optional": "Zugangstoken (optional, für größere Geheimnisse)",
  "create.submit": "Geheimen Link erstellen",
  "create.busy.kdf": "Schlüssel wird aus der Passphrase abgeleitet…",
  "create.busy.upload": "Hochladen… {percent} %",
  "create.busy.send": "Verschlüsseln und Hochladen… {percent} %",
  "create.err.empty": "Geben Sie einen Text ein oder wählen Sie mindestens eine Datei.",
  "create.err.tooLarge": "Dieses Geheimnis ist {size} groß; die Grenze ist {limit}.",
  "create.err.token": "Dieser Server braucht ein Zugangstoken. Es fehlte oder wurde nicht akzeptiert.",
  "create.err.server": "Der Server hat das Geheimnis abgelehnt: {details}",
  "create.err.network": "Der Server ist nicht erreichbar. Prüfen Sie die Verbindung und versuchen Sie es erneut.",
  "ttl.minutes": "{n} Minuten",
  "ttl.hour": "1 Stunde",
  "ttl.hours": "{n} Stunden",
  "ttl.day": "1 Tag",
  "ttl.days": "{n} Tage",
  "ttl.seconds": "{n} Sekunden",
  "result.heading": "Ihr geheimer Link",
  "result.intro": "Wer diesen Link hat, kann das Geheimnis einmal öffnen. Danach ist es weg.",
  "result.link": "Link",
  "result.key": "Schlüssel (getrennt senden)",
  "result.copy": "Kopieren",
  "result.copyLink": "Link kopieren",
  "result.copyKey": "Schlüssel kopieren",
  "result.copied": "Kopiert",
  "result.qr": "QR-Code des Links",
  "result.status": "Status",
  "result.refresh": "Status prüfen",
  "result.delete": "Jetzt löschen",
  "result.another": "Weiteres Geheimnis teilen",
  "status.pending": "Noch nicht gelesen",
  "status.read": "Gelesen",
  "status.revoked": "Gelöscht",
  "status.destroyed": "Nach zu vielen falschen Passphrasen vernichtet",
  "status.expired": "Abgelaufen",
  "status.unknown": "Unbekannt",
  "status.error": "Der Status konnte nicht geprüft werden.",
  "reveal.heading": "Jemand hat ein Geheimnis mit Ihnen geteilt",
  "reveal.intro": "Es lässt sich genau einmal öffnen. Erst wenn Sie den Knopf drücken, wird etwas geladen.",
  "reveal.key": "Schlüssel",
  "reveal.key.hint": "Dieser Link enthält keinen Schlüssel. Geben Sie den getrennt erhaltenen Schlüssel ein.",
  "reveal.passphrase": "Passphrase",
  "reveal.passphrase.hint": "Dieses Geheimnis ist mit einer Passphrase geschützt.",
  "reveal.button": "Geheimnis anzeigen",
  "reveal.busy.kdf": "Schlüssel wird aus der Passphrase abgeleitet…",
  "reveal.busy.download": "Laden… {percent} %",
  "reveal.busy.decrypt": "Entschlüsseln…",
  "reveal.text": "Geheimer Text",
  "reveal.copy": "Text kopieren",
  "reveal.files": "Dateien",
  "reveal.download": "{name} herunterladen ({size})",
  "reveal.downloadAll": "Alle herunterladen ({name})",
  "reveal.gone.note": "Das Geheimnis wurde vom Server gelöscht. Sichern Sie es jetzt; neu laden bringt es nicht zurück.",
  "reveal.err.title": "Dieses Geheimnis lässt sich nicht öffnen",
  "reveal.err.gone": "Dieses Geheimnis wurde bereits geöffnet oder gelöscht. Geheimnisse lassen sich nur einmal lesen.",
  "reveal.err.notFound": "Dieses Geheimnis existiert nicht oder ist abgelaufen.",
  "reveal.err.passphrase": "Falsche Passphrase. Noch {n} Versuch(e), bevor das Geheimnis vernichtet wird.",
  "reveal.err.passphraseDestroyed": "Falsche Passphrase. Das Geheimnis wurde vernichtet.",
  "reveal.err.forbidden": "Dieses Geheimnis lässt sich von hier aus nicht öffnen (eine Einschränkung des Absenders ist nicht erfüllt).",
  "reveal.err.link": "Der Link ist beschädigt: {detail} Bitten Sie um den vollständigen Link.",
  "reveal.err.decrypt": "Das Geheimnis ließ sich nicht entschlüsseln: Der Schlüssel passt nicht oder die Daten sind beschädigt.",
  "reveal.err.network": "Der Server ist nicht erreichbar. Prüfen Sie die Verbindung und versuchen Sie es erneut.",
  "reveal.err.server": "Der Server meldet einen Fehler: {details}",
  "link.missing_key": "Der Schlüssel fehlt.",
  "link.key_length": "Der Schlüssel hat die falsche Länge (vielleicht abgeschnitten).",
  "link.key_charset": "Der Schlüssel enthält Zeichen, die nicht hineingehören.",
  "link.key_encoding": "Das letzte Zeichen des Schlüssels ist falsch.",
  "link.legacy_hash_format": "Der Prüfwert hinter dem Schlüssel (nach ':') ist beschädigt.",
  "link.missing_id": "Die Kennung des Geheimnisses fehlt.",
  "link.invalid_id": "Die Kennung des Geheimnisses ist ungültig.",
  "link.empty_link": "Er ist leer.",
  "link.other": "Er ließ sich nicht lesen.",
  "footer.zk": "Ver- und entschlüsselt in Ihrem Browser; der Server sieht den Schlüssel nie.",
  "footer.backend.webcrypto": "Verschlüsselung: WebCrypto",
  "footer.backend.pure": "Verschlüsselung: WebAssembly (WebCrypto ist hier nicht verfügbar)",
  "footer.impressum": "Impressum",
  "footer.privacy": "Datenschutz",
  "footer.create": "Ein Geheimnis teilen",
};

export const LANGS = { en, de } as const;
export type Lang = keyof typeof LANGS;

let current: Lang = "en";

export function setLang(lang: Lang): void {
  current = lang;
}

export function lang(): Lang {
  return current;
}

export function t(key: Key, params: Record<string, string | number> = {}): string {
  let s: string = LANGS[current][key] ?? en[key];
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
