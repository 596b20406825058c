#!/usr/bin/env bash
# Redis's user-space instructions per create and per create+read cycle of one server build,
# counted by callgrind: unlike CPU time, the count does not depend on what else the machine
# runs, so two builds compare on a busy machine. Kernel time (the network) is not in it.
#
#   server/bench/redis-instructions.sh <hakanai-server binary> [seconds per phase] [extra server args...]
#
# Runs redis-server under valgrind (so at a fraction of its speed) and the server against it,
# then wrk (1 thread, 8 connections, 1 KiB JSON secrets, server/bench/wrk-*.lua) for a create
# and a cycle phase, zeroing the counts before each.
set -euo pipefail

bin=$1
secs=${2:-8}
shift $(($# >= 2 ? 2 : 1))
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
rport=$(free_port)
sport=$(free_port)

valgrind --tool=callgrind --callgrind-out-file="$work/cg.%p" \
    redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no >"$work/redis.log" 2>&1 &
rpid=$!
trap 'kill ${spid:-} $rpid 2>/dev/null; sleep 1; rm -rf "$work"' EXIT
for _ in $(seq 100); do
    redis-cli -p "$rport" PING >/dev/null 2>&1 && break
    sleep 0.2
done
"$bin" --port "$sport" --allow-anonymous --redis-dsn "redis://127.0.0.1:$rport/0" "$@" \
    >"$work/server.log" 2>&1 &
spid=$!
for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$sport/healthy" >/dev/null && break
    sleep 0.2
done
python3 -c 'import base64, json, os; print(json.dumps({"data": base64.b64encode(os.urandom(1024)).decode(), "expires_in": 3600}))' \
    >"$work/body.json"

phase() {
    local name=$1 script=$2 out line ops dump ir
    redis-cli -p "$rport" FLUSHALL >/dev/null
    BENCH_BODY="$work/body.json" BENCH_CONTENT_TYPE=application/json \
        wrk -t 1 -c 8 -d 2s --timeout 5s -s "$here/$script" "http://127.0.0.1:$sport" >/dev/null
    redis-cli -p "$rport" FLUSHALL >/dev/null
    callgrind_control -z "$rpid" >/dev/null
    out=$(BENCH_BODY="$work/body.json" BENCH_CONTENT_TYPE=application/json \
        wrk -t 1 -c 8 -d "${secs}s" --timeout 5s -s "$here/$script" "http://127.0.0.1:$sport")
    callgrind_control -d "$rpid" >/dev/null
    sleep 1
    dump=$(ls -t "$work"/cg.* | head -1)
    ir=$(awk '/^summary:/ { print $2; exit }' "$dump")
    line=$(grep '^wrk ' <<<"$out")
    if [ "$name" = create ]; then
        ops=$(sed -E 's/.*requests=([0-9]+).*/\1/' <<<"$line")
    else
        ops=$(sed -E 's/.* reads=([0-9]+).*/\1/' <<<"$line")
    fi
    echo "$name: $ops ok ($(sed -E 's/.*failed=([0-9]+).*/\1/' <<<"$line") failed); Redis instructions per $name: $((ir / ops))"
}

phase create wrk-create.lua
phase cycle wrk-cycle.lua
