#!/usr/bin/env bash
# What one create and one create+read cycle cost Redis, for one build of the server: the
# commands Redis ran (INFO commandstats, scripts' inner commands included) and its CPU time
# (INFO cpu), per successful operation. A small, repeatable check of the store's Redis work, not
# a throughput benchmark (that is `cargo xtask bench-server`).
#
#   server/bench/redis-cost.sh <hakanai-server binary> [seconds per phase] [extra server args...]
#
# Starts a fresh redis-server and the server on free ports, runs wrk (2 threads, 32
# connections, 1 KiB JSON secrets, server/bench/wrk-*.lua) for a create phase and a cycle
# phase, and prints one line per phase.
set -euo pipefail

bin=$1
secs=${2:-5}
shift $(($# >= 2 ? 2 : 1))
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
rport=$(free_port)
sport=$(free_port)

redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no >"$work/redis.log" 2>&1 &
rpid=$!
"$bin" --port "$sport" --allow-anonymous --redis-dsn "redis://127.0.0.1:$rport/0" "$@" \
    >"$work/server.log" 2>&1 &
spid=$!
trap 'kill $spid $rpid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$sport/healthy" >/dev/null && break
    sleep 0.1
done

python3 -c 'import base64, json, os; print(json.dumps({"data": base64.b64encode(os.urandom(1024)).decode(), "expires_in": 3600}))' \
    >"$work/body.json"
rc() { redis-cli -p "$rport" "$@"; }
cpu() { rc INFO cpu | tr -d '\r' | awk -F: '/^used_cpu_(sys|user):/ { t += $2 } END { printf "%.6f", t }'; }

phase() {
    local name=$1 script=$2
    rc FLUSHALL >/dev/null
    # Warm-up: the scripts get loaded, the connections made.
    BENCH_BODY="$work/body.json" BENCH_CONTENT_TYPE=application/json \
        wrk -t 2 -c 32 -d 1s -s "$here/$script" "http://127.0.0.1:$sport" >/dev/null
    rc FLUSHALL >/dev/null
    rc CONFIG RESETSTAT >/dev/null
    local before out after
    before=$(cpu)
    out=$(BENCH_BODY="$work/body.json" BENCH_CONTENT_TYPE=application/json \
        wrk -t 2 -c 32 -d "${secs}s" -s "$here/$script" "http://127.0.0.1:$sport")
    after=$(cpu)
    local line requests failed reads ops
    line=$(grep '^wrk ' <<<"$out")
    requests=$(sed -E 's/.*requests=([0-9]+).*/\1/' <<<"$line")
    failed=$(sed -E 's/.*failed=([0-9]+).*/\1/' <<<"$line")
    reads=$(sed -E 's/.*reads=([0-9]+).*/\1/' <<<"$line")
    if [ "$name" = create ]; then ops=$requests; else ops=$reads; fi
    rc INFO commandstats | tr -d '\r' | python3 -c '
import sys
ops, name, cpu, failed = int(sys.argv[1]), sys.argv[2], float(sys.argv[3]), sys.argv[4]
calls, usec = {}, {}
for line in sys.stdin:
    if not line.startswith("cmdstat_"):
        continue
    cmd, fields = line[len("cmdstat_"):].split(":", 1)
    f = dict(f.split("=") for f in fields.split(","))
    calls[cmd] = int(f["calls"])
    usec[cmd] = int(f["usec"])
inner = sum(n for c, n in calls.items() if c not in ("evalsha", "eval", "info", "config", "flushall"))
scripts = calls.get("evalsha", 0) + calls.get("eval", 0)
script_us = usec.get("evalsha", 0) + usec.get("eval", 0)
detail = " ".join(f"{c}={n / ops:.2f}" for c, n in sorted(calls.items(), key=lambda kv: -kv[1])
                  if c not in ("info", "config", "flushall"))
print(f"{name}: {ops} ok, {failed} failed; per {name}: Redis CPU {cpu * 1e6 / ops:.1f} us, "
      f"{scripts / ops:.2f} scripts ({script_us / ops:.1f} us in them), "
      f"{inner / ops:.2f} other commands (inside scripts included) "
      f"| {detail}")
' "$ops" "$name" "$(python3 -c "print($after - $before)")" "$failed"
}

phase create wrk-create.lua
phase cycle wrk-cycle.lua

# The floor: a plain `SET key <1 KiB> PX` per request, from 32 clients without pipelining.
rc FLUSHALL >/dev/null
n=100000
before=$(cpu)
redis-benchmark -p "$rport" -q -c 32 -n "$n" -r 100000000 \
    SET bench:__rand_int__ "$(head -c 1024 /dev/zero | tr '\0' x)" PX 3600000 >/dev/null
after=$(cpu)
python3 -c "print(f'floor: $n SET PX; Redis CPU {($after - $before) * 1e6 / $n:.1f} us per SET')"
