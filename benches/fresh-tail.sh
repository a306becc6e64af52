#!/usr/bin/env bash
# Where the fresh-token point's p99 comes from (docs/PERFORMANCE.md, "The
# fresh-token tail"): the proxy restarted for each point (empty cache),
# wrk -t1 -c64 for $DURATION s, 2 rounds:
#   - route off with the fresh-token script (no check: the script's own tail)
#   - HS256 with one repeated token
#   - HS256 with a new token per request, cache_capacity 100k (default), 0, 1M
# Needs what benches/load.sh needs; run that once first (it installs wrk).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DURATION=${DURATION:-8}
cargo build --release -q -p attestgate-proxy --bin attestgate
cargo build --release -q -p attestgate-testkit --bin fast-upstream
BIN=$ROOT/target/release; AG=$BIN/attestgate
WORK=$(mktemp -d /tmp/attestgate-fresh.XXXXXX)
source benches/load/lib.sh
UP=$(port); PX=$(port); PP=""
$BIN/fast-upstream "127.0.0.1:$UP" 2>/dev/null & UPP=$!
trap 'kill $PP $UPP 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT
wait_port "$UP"
SECRET=$($AG secret new)
$AG token mint --secret-base64 "$SECRET" --ttl 7200 --claim ip=203.0.113.7 --count 600000 > "$WORK/tokens.txt"
TOKEN=$(head -1 "$WORK/tokens.txt")
start() { # cache_capacity
  two_route_config "$PX" 2 "$UP" "$SECRET" "" "cache_capacity = $1" > "$WORK/p.toml"
  RUST_LOG=warn $AG serve --config "$WORK/p.toml" 2>>"$WORK/proxy.log" & PP=$!
  wait_port "$PX"
}
point() { # name cache path fresh|repeated
  local out
  start "$2"
  if [ "$4" = fresh ]; then
    out=$(TOKENS="$WORK/tokens.txt" wrk -t1 -c64 -d"${DURATION}s" --latency -s benches/load/tokens.lua "http://127.0.0.1:$PX$3" 2>&1)
  else
    out=$(wrk -t1 -c64 -d"${DURATION}s" --latency -H "Approov-Token: $TOKEN" "http://127.0.0.1:$PX$3" 2>&1)
  fi
  kill "$PP"; wait "$PP" 2>/dev/null || true; PP=""
  printf '%-40s %9s req/s  p50 %8s  p99 %8s  %s\n' "$1" \
    "$(echo "$out" | awk '/Requests\/sec/ {print $2}')" "$(echo "$out" | awk '$1=="50%" {print $2}')" \
    "$(echo "$out" | awk '$1=="99%" {print $2}')" "$(echo "$out" | grep -E 'Non-2xx|tokens.lua: all' | tr '\n' ' ')"
}
for round in 1 2; do
  point "route off, fresh-token script" 100000 /off/x fresh
  point "HS256 repeated" 100000 /x repeated
  point "HS256 fresh, cache_capacity 100000" 100000 /x fresh
  point "HS256 fresh, cache_capacity 0" 0 /x fresh
  point "HS256 fresh, cache_capacity 1000000" 1000000 /x fresh
done
