// The page's side of the HTTP API (server/README.md; the OpenAPI document at /openapi.json).
// Every refusal becomes one `ApiError` carrying the status and the server's own error code and
// message, so the pages decide what to show from typed values, never from raw responses.

import type { Restrictions } from "./restrictions";

/** The JSON body of every refusal: `{"error": code, "details": message}`. */
interface ErrorBody {
  error?: string;
  details?: string;
}

/** The server refused a request. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    /** The server's error code (`error` in the body); undefined when the body was not ours. */
    readonly code: string | undefined,
    /** The server's readable message, or the status when there is none. */
    readonly details: string,
    private readonly header: (name: string) => string | null,
  ) {
    super(`HTTP ${status}: ${details}`);
  }

  /** `X-Passphrase-Attempts-Remaining` on a 401, when the server sent it. */
  attemptsRemaining(): number | undefined {
    const left = Number(this.header("X-Passphrase-Attempts-Remaining") ?? "NaN");
    return Number.isNaN(left) ? undefined : left;
  }
}

/** The request never got an answer (offline, connection reset, blocked). */
export class NetworkError extends Error {
  constructor() {
    super("network");
  }
}

function apiError(status: number, body: string, header: (name: string) => string | null): ApiError {
  let parsed: ErrorBody = {};
  try {
    parsed = JSON.parse(body) as ErrorBody;
  } catch {
    // Not JSON (e.g. a proxy's page): the status decides.
  }
  return new ApiError(status, parsed.error, parsed.details ?? String(status), header);
}

async function refusal(res: Response): Promise<ApiError> {
  return apiError(res.status, await res.text().catch(() => ""), (n) => res.headers.get(n));
}

/** `fetch` with the network failure as a `NetworkError`. */
async function request(url: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch {
    throw new NetworkError();
  }
}

interface XhrResult {
  status: number;
  body: string;
  header: (name: string) => string | null;
}

/** XMLHttpRequest rather than fetch: only it reports upload progress. */
function send(
  method: string,
  url: string,
  body: Blob | string | null,
  headers: Record<string, string>,
  onProgress?: (loaded: number) => void,
): Promise<XhrResult> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, url);
    for (const [k, v] of Object.entries(headers)) xhr.setRequestHeader(k, v);
    if (onProgress) xhr.upload.addEventListener("progress", (e) => onProgress(e.loaded));
    xhr.addEventListener("load", () =>
      resolve({ status: xhr.status, body: xhr.responseText, header: (n) => xhr.getResponseHeader(n) }),
    );
    xhr.addEventListener("error", () => reject(new NetworkError()));
    xhr.send(body);
  });
}

function json<T>(res: XhrResult): T {
  if (res.status !== 200) throw apiError(res.status, res.body, res.header);
  return JSON.parse(res.body) as T;
}

/** A stored secret, and the token that lets its creator see its status or revoke it. */
export interface Created {
  id: string;
  creator_token: string;
}

/** Who is uploading: `Authorization: Bearer <token>` when a token was given. */
export function authHeaders(token: string): Record<string, string> {
  const trimmed = token.trim();
  return trimmed ? { Authorization: `Bearer ${trimmed}` } : {};
}

const secretUrl = (id: string) => `/api/v1/secret/${encodeURIComponent(id)}`;

/**
 * What the server keeps to check a reader, from `SecretKeys` (`readTokenHash`, `serverHash`):
 * the read token's hash (docs/FORMAT.md § Read token), so the id alone reads nothing, and the
 * passphrase verifier's hash when there is a passphrase.
 */
export interface Locks {
  readTokenHash?: string;
  passphraseHash?: string;
}

/** `POST /api/v1/secret`: the whole envelope in one request. */
export async function createSecret(
  envelope: Blob,
  ttlSeconds: string,
  locks: Locks,
  auth: Record<string, string>,
  onProgress: (loaded: number) => void,
  restrictions: Restrictions = {},
): Promise<Created> {
  const headers: Record<string, string> = {
    ...auth,
    "Content-Type": "application/octet-stream",
    "X-Secret-TTL": ttlSeconds,
  };
  if (locks.passphraseHash) headers["X-Secret-Passphrase-Hash"] = locks.passphraseHash;
  if (locks.readTokenHash) headers["X-Secret-Read-Token-Hash"] = locks.readTokenHash;
  // The raw upload takes its restrictions as comma-separated headers.
  if (restrictions.allowed_ips) headers["X-Secret-Allowed-IPs"] = restrictions.allowed_ips.join(",");
  if (restrictions.allowed_countries) headers["X-Secret-Allowed-Countries"] = restrictions.allowed_countries.join(",");
  if (restrictions.allowed_asns) headers["X-Secret-Allowed-ASNs"] = restrictions.allowed_asns.join(",");
  return json<Created>(await send("POST", "/api/v1/secret", envelope, headers, onProgress));
}

/** An upload in progress: append its chunks in order, then finish it. */
export interface Upload extends Created {
  /** The largest chunk the server takes in one request. */
  max_chunk: number;
}

/** `POST /api/v1/upload`: opens an upload of an envelope of exactly `size` bytes. */
export async function openUpload(
  size: number,
  ttlSeconds: number,
  locks: Locks,
  auth: Record<string, string>,
  restrictions: Restrictions = {},
): Promise<Upload> {
  const start = {
    expires_in: ttlSeconds,
    size,
    restrictions: { ...restrictions, passphrase_hash: locks.passphraseHash, read_token_hash: locks.readTokenHash },
  };
  return json<Upload>(
    await send("POST", "/api/v1/upload", JSON.stringify(start), { ...auth, "Content-Type": "application/json" }),
  );
}

const uploadUrl = (upload: Upload) => `/api/v1/upload/${encodeURIComponent(upload.id)}`;

/**
 * `PATCH /api/v1/upload/{id}` at `offset`. A lost connection is retried (three times, with
 * backoff); a retry whose first attempt did arrive is recognised by the server's offset.
 */
export async function appendChunk(
  upload: Upload,
  chunk: Blob,
  offset: number,
  onProgress: (loaded: number) => void,
): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    let res: XhrResult;
    try {
      res = await send(
        "PATCH",
        uploadUrl(upload),
        chunk,
        {
          "Content-Type": "application/octet-stream",
          "X-Creator-Token": upload.creator_token,
          "Upload-Offset": String(offset),
        },
        onProgress,
      );
    } catch (e) {
      if (attempt >= 3) throw e;
      await new Promise((r) => setTimeout(r, 500 * 2 ** attempt));
      continue;
    }
    // A retry of a chunk whose answer was lost: the server already has it.
    if (res.status === 409 && Number(res.header("Upload-Offset")) === offset + chunk.size) return;
    json<{ offset: number }>(res);
    return;
  }
}

/** `POST /api/v1/upload/{id}/finish`: the secret becomes readable. */
export async function finishUpload(upload: Upload): Promise<Created> {
  return json<Created>(await send("POST", `${uploadUrl(upload)}/finish`, null, { "X-Creator-Token": upload.creator_token }));
}

/** What the creator can learn about a secret (`GET /api/v1/secret/{id}/status`). */
export type SecretStatus = "pending" | "read" | "revoked" | "destroyed" | "expired";
const STATUSES: readonly string[] = ["pending", "read", "revoked", "destroyed", "expired"];

/** The secret's status, or undefined for a status this page does not know yet. */
export async function secretStatus(created: Created): Promise<SecretStatus | undefined> {
  const res = await request(`${secretUrl(created.id)}/status`, {
    headers: { "X-Creator-Token": created.creator_token },
    cache: "no-store",
  });
  if (!res.ok) throw await refusal(res);
  const { status } = (await res.json()) as { status: string };
  return STATUSES.includes(status) ? (status as SecretStatus) : undefined;
}

/** `DELETE /api/v1/secret/{id}`: destroys the secret unread. */
export async function revokeSecret(created: Created): Promise<void> {
  const res = await request(secretUrl(created.id), {
    method: "DELETE",
    headers: { "X-Creator-Token": created.creator_token },
  });
  if (res.status !== 204) throw await refusal(res);
}

/**
 * `GET /api/v1/secret/{id}`: the envelope, as a stream; this read consumes the secret.
 * `readToken` opens a secret stored with a read-token hash (`X-Secret-Read-Token`; Hakanai v3
 * keys have none); `verifier` answers a passphrase restriction (`X-Secret-Passphrase`).
 */
export async function readSecret(
  id: string,
  readToken: string | undefined,
  verifier: string | undefined,
): Promise<Response> {
  const headers: Record<string, string> = {};
  if (readToken) headers["X-Secret-Read-Token"] = readToken;
  if (verifier) headers["X-Secret-Passphrase"] = verifier;
  const res = await request(secretUrl(id), {
    headers,
    cache: "no-store",
    credentials: "omit",
    referrerPolicy: "no-referrer",
  });
  if (res.status !== 200) throw await refusal(res);
  return res;
}

/** `POST /api/v1/one-time-token`: an invite token that inherits the caller's upload limit. */
export async function mintOneTimeToken(token: string): Promise<{ token: string; id: string }> {
  const res = await request("/api/v1/one-time-token", {
    method: "POST",
    headers: authHeaders(token),
    cache: "no-store",
    credentials: "omit",
  });
  if (res.status !== 200) throw await refusal(res);
  return (await res.json()) as { token: string; id: string };
}
