#!/usr/bin/env bash
# Throughput of 1, 2 and 4 hakanai-server replicas on one Redis: create req/s (one oha per
# replica, the connections split between them, req/s summed) and create+read cycles/s
# (examples/cycle_load.rs over all replicas, every read on another replica than its create).
# Needs redis-server and oha (`cargo install oha --locked`). JSON lines on stdout.
#
#   server/bench/replicas.sh
#   REPLICAS="1 2 4" DURATION=10 CONCURRENCY=48 server/bench/replicas.sh
set -euo pipefail

cd "$(dirname "$0")/.."
CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$(cd .. && pwd)/target}"
DURATION="${DURATION:-10}"
CONCURRENCY="${CONCURRENCY:-48}"
REPLICAS="${REPLICAS:-1 2 4}"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

cargo build --release --quiet --bin hakanai-server --example cycle_load
BIN="$CARGO_TARGET_DIR/release/hakanai-server"
LOAD="$CARGO_TARGET_DIR/release/examples/cycle_load"

WORK="$(mktemp -d)"
REDIS_PORT="$(free_port)"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no >"$WORK/redis.log" 2>&1 &
REDIS_PID=$!
SERVER_PIDS=()
stop_servers() {
  for pid in "${SERVER_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${SERVER_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  SERVER_PIDS=()
}
cleanup() {
  stop_servers
  kill "$REDIS_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
until redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; do sleep 0.05; done
head -c 1024 /dev/urandom >"$WORK/secret-1k.bin"

for n in $REPLICAS; do
  redis-cli -p "$REDIS_PORT" flushall >/dev/null
  URLS=()
  for _ in $(seq "$n"); do
    port="$(free_port)"
    RUST_LOG=warn "$BIN" --port "$port" --redis-dsn "redis://127.0.0.1:$REDIS_PORT/0" \
      --allow-anonymous --anonymous-size-limit 64k >>"$WORK/server.log" 2>&1 &
    SERVER_PIDS+=($!)
    URLS+=("http://127.0.0.1:$port")
  done
  for url in "${URLS[@]}"; do until curl -sf "$url/healthy" >/dev/null; do sleep 0.05; done; done

  echo "# $n replica(s): create, raw 1 KiB, $CONCURRENCY connections in total, ${DURATION}s" >&2
  OHA_PIDS=()
  for i in "${!URLS[@]}"; do
    oha --no-tui --output-format json -z "${DURATION}s" -c "$((CONCURRENCY / n))" -m POST \
      -H 'content-type: application/octet-stream' -D "$WORK/secret-1k.bin" \
      "${URLS[$i]}/api/v1/secret" >"$WORK/create-$n-$i.json" &
    OHA_PIDS+=($!)
  done
  for pid in "${OHA_PIDS[@]}"; do wait "$pid"; done
  python3 - "$n" "$WORK"/create-"$n"-*.json <<'PY'
import json, sys
n, runs = int(sys.argv[1]), [json.load(open(f)) for f in sys.argv[2:]]
rps = sum(r["summary"]["requestsPerSec"] for r in runs)
codes = {}
for r in runs:
    for k, v in r.get("statusCodeDistribution", {}).items():
        codes[k] = codes.get(k, 0) + v
p50 = max(r["latencyPercentiles"]["p50"] for r in runs) * 1000
p99 = max(r["latencyPercentiles"]["p99"] for r in runs) * 1000
slowest = max(r["summary"]["slowest"] for r in runs) * 1000
print(json.dumps({"bench": "create_1k", "replicas": n, "req_per_sec": round(rps),
                  "slowest_ms": round(slowest, 1),
                  "p50_ms": round(p50, 2), "p99_ms": round(p99, 2), "status": codes}))
PY

  echo "# $n replica(s): create+read cycles, $CONCURRENCY workers, ${DURATION}s" >&2
  IFS=, ; ALL="${URLS[*]}"; unset IFS
  printf '{"bench": "create_read_cycle_1k", "replicas": %d, "result": %s}\n' \
    "$n" "$("$LOAD" "$ALL" "$CONCURRENCY" "$DURATION" 1024)"
  stop_servers
  # A 503 in the table means a store error; say which, from the servers' JSON logs.
  grep -ho '"error":"[^"]*"' "$WORK/server.log" | sort | uniq -c | sed "s/^/# $n replica(s) store errors: /" >&2 || true
  : >"$WORK/server.log"
done
