// A third-party web app using the hakanai-wasm npm package (see ../README.md). In a real app:
// `import init, { ... } from "hakanai-wasm";` through your bundler.
import init, { SecretKeys, buildLink, decrypt, encrypt, generateKey, parseLink } from "./hakanai_wasm.js";

const $ = (id) => document.getElementById(id);
const server = () => $("server").value.replace(/\/+$/, "");

async function create(event) {
  event.preventDefault();
  const keys = new SecretKeys(generateKey());
  const envelope = await encrypt(new TextEncoder().encode($("secret").value), keys, { kind: "text" });
  // The server keeps the read token's hash: a reader needs the key, not just the id.
  const res = await fetch(`${server()}/api/v1/secret`, {
    method: "POST",
    headers: {
      "Content-Type": "application/octet-stream",
      "X-Secret-TTL": "3600",
      "X-Secret-Read-Token-Hash": keys.readTokenHash,
    },
    body: envelope,
  });
  if (!res.ok) throw new Error(`upload failed: ${res.status}`);
  const { id } = await res.json();
  $("link").textContent = buildLink(server(), id, keys.key);
  keys.free();
}

async function open(event) {
  event.preventDefault();
  const { base, id, key } = parseLink($("to-open").value);
  const keys = new SecretKeys(key);
  const headers = keys.readToken ? { "X-Secret-Read-Token": keys.readToken } : {};
  const res = await fetch(`${base ?? server()}/api/v1/secret/${id}`, { headers, referrerPolicy: "no-referrer" });
  if (!res.ok) throw new Error(`read failed: ${res.status}`);
  const { plaintext } = await decrypt(new Uint8Array(await res.arrayBuffer()), keys);
  $("opened").textContent = new TextDecoder().decode(plaintext);
  keys.free();
}

function guard(handler) {
  return (event) =>
    handler(event).catch((e) => {
      $("error").textContent = `${e.code ?? "error"}: ${e.message}`;
    });
}

await init();
const fromQuery = new URLSearchParams(location.search).get("server");
if (fromQuery) $("server").value = fromQuery;
$("create").addEventListener("submit", guard(create));
$("open").addEventListener("submit", guard(open));
document.documentElement.dataset.ready = "true";
