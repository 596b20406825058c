-- wrk script: every request POSTs the same body to /api/v1/secret.
-- BENCH_BODY names the body file, BENCH_CONTENT_TYPE its media type (set by `cargo xtask bench-server`).
local f = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
wrk.method = "POST"
wrk.path = "/api/v1/secret"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = os.getenv("BENCH_CONTENT_TYPE")

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "wrk requests=%d duration_us=%d failed=%d reads=0 p50_us=%d p99_us=%d\n",
    summary.requests, summary.duration, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
