#!/usr/bin/env bash
# Benchmark: create req/s (oha), create+read cycles/s (examples/cycle_load.rs), p50/p99, and Redis
# memory per stored 1 KiB secret. Needs redis-server and oha (`cargo install oha --locked`).
#
#   server/bench/run.sh            # results as JSON lines on stdout
#   cargo xtask bench-server       # the same, installing oha, written into BENCHMARKS.md
#   DURATION=30 CONCURRENCY=100 server/bench/run.sh
set -euo pipefail

cd "$(dirname "$0")/.."
CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$(cd .. && pwd)/target}"
DURATION="${DURATION:-10}"
CONCURRENCY="${CONCURRENCY:-50}"
SECRETS="${SECRETS:-10000}"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

cargo build --release --quiet --bin hakanai-server --example cycle_load
BIN="$CARGO_TARGET_DIR/release/hakanai-server"
LOAD="$CARGO_TARGET_DIR/release/examples/cycle_load"

WORK="$(mktemp -d)"
REDIS_PORT="$(free_port)"
HTTP_PORT="$(free_port)"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no >"$WORK/redis.log" 2>&1 &
REDIS_PID=$!
SERVER_PID=""
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
  kill "$REDIS_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
until redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; do sleep 0.05; done

RUST_LOG=warn "$BIN" --port "$HTTP_PORT" --redis-dsn "redis://127.0.0.1:$REDIS_PORT/0" \
  --allow-anonymous --anonymous-size-limit 64k >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
URL="http://127.0.0.1:$HTTP_PORT"
until curl -sf "$URL/healthy" >/dev/null; do sleep 0.05; done

head -c 1024 /dev/urandom >"$WORK/secret-1k.bin"

echo "# create: raw 1 KiB secrets, $CONCURRENCY connections, ${DURATION}s" >&2
oha --no-tui --output-format json -z "${DURATION}s" -c "$CONCURRENCY" -m POST \
  -H 'content-type: application/octet-stream' -D "$WORK/secret-1k.bin" \
  "$URL/api/v1/secret" >"$WORK/create.json"
python3 - "$WORK/create.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
s, p = r["summary"], r["latencyPercentiles"]
codes = r.get("statusCodeDistribution", {})
print(json.dumps({"bench": "create_1k", "req_per_sec": round(s["requestsPerSec"]),
                  "p50_ms": round(p["p50"] * 1000, 2), "p99_ms": round(p["p99"] * 1000, 2),
                  "status": codes}))
PY

python3 -c "import base64,json,sys; print(json.dumps({'data': base64.b64encode(open(sys.argv[1],'rb').read()).decode(), 'expires_in': 3600}))" \
  "$WORK/secret-1k.bin" >"$WORK/secret-1k.json"
echo "# create: JSON (base64) 1 KiB secrets, $CONCURRENCY connections, ${DURATION}s" >&2
oha --no-tui --output-format json -z "${DURATION}s" -c "$CONCURRENCY" -m POST \
  -H 'content-type: application/json' -D "$WORK/secret-1k.json" \
  "$URL/api/v1/secret" >"$WORK/create-json.json"
python3 - "$WORK/create-json.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
s, p = r["summary"], r["latencyPercentiles"]
print(json.dumps({"bench": "create_1k_json", "req_per_sec": round(s["requestsPerSec"]),
                  "p50_ms": round(p["p50"] * 1000, 2), "p99_ms": round(p["p99"] * 1000, 2),
                  "status": r.get("statusCodeDistribution", {})}))
PY

echo "# create+read cycles: $CONCURRENCY workers, ${DURATION}s" >&2
printf '{"bench": "create_read_cycle_1k", "result": %s}\n' \
  "$("$LOAD" "$URL" "$CONCURRENCY" "$DURATION" 1024)"

echo "# Redis memory per stored 1 KiB secret ($SECRETS secrets)" >&2
redis-cli -p "$REDIS_PORT" flushall >/dev/null
used() { redis-cli -p "$REDIS_PORT" info memory | awk -F: '/^used_memory:/ {print $2}' | tr -d '\r'; }
BEFORE="$(used)"
oha --no-tui --output-format json -n "$SECRETS" -c "$CONCURRENCY" -m POST \
  -H 'content-type: application/octet-stream' -D "$WORK/secret-1k.bin" \
  "$URL/api/v1/secret" >/dev/null
AFTER="$(used)"
KEYS="$(redis-cli -p "$REDIS_PORT" dbsize)"
python3 -c "
b, a, n = $BEFORE, $AFTER, $KEYS
per = (a - b) / n
print('{\"bench\": \"redis_bytes_per_1k_secret\", \"keys\": %d, \"bytes_per_secret\": %.0f, \"overhead_over_payload\": %.0f}' % (n, per, per - 1024))
"
