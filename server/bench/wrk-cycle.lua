-- wrk script: create+read cycles. Each connection creates a secret (JSON, BENCH_BODY) when its
-- thread has no unread id, else reads one of the ids its thread created, once. A cycle is one
-- read answered 200; ids are never read twice. BENCH_READ_TOKEN, when not empty, goes with every
-- read as X-Secret-Read-Token (the JSON body then carries its read_token_hash).
local f = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
local body = f:read("*a")
f:close()
local create = wrk.format("POST", "/api/v1/secret", { ["Content-Type"] = "application/json" }, body)
local token = os.getenv("BENCH_READ_TOKEN") or ""
local read_headers = {}
if token ~= "" then read_headers["X-Secret-Read-Token"] = token end
local unread = {}
reads = 0
bad_reads = 0

function request()
  local id = table.remove(unread)
  if id then
    return wrk.format("GET", "/api/v1/secret/" .. id, read_headers)
  end
  return create
end

function response(status, headers, body)
  local id = body:match('^%s*{%s*"id"%s*:%s*"([^"]+)"')
  if id then
    table.insert(unread, id)
  elseif status == 200 then
    reads = reads + 1
  else
    bad_reads = bad_reads + 1
  end
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function done(summary, latency, requests)
  local n, bad = 0, 0
  for _, t in ipairs(threads) do
    n = n + t:get("reads")
    bad = bad + t:get("bad_reads")
  end
  local e = summary.errors
  io.write(string.format(
    "wrk requests=%d duration_us=%d failed=%d reads=%d p50_us=%d p99_us=%d\n",
    summary.requests, summary.duration, e.connect + e.read + e.write + e.status + e.timeout + bad,
    n, latency:percentile(50), latency:percentile(99)))
end
