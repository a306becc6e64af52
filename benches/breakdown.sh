#!/usr/bin/env bash
# Where a proxied request's time goes: the attestgate proxy (route off)
# against nginx as a plain reverse proxy, same upstream, same load.
#
#   benches/breakdown.sh            # all three parts below
#   PART=cpu benches/breakdown.sh   # one of: cpu, syscalls, callgrind
#   AG=/path/to/attestgate PART=callgrind benches/breakdown.sh   # another build
#
# cpu:       wrk -t1 -c64 for $DURATION s; user and system CPU time per
#            request of the server's processes (from /proc/PID/stat), for
#            attestgate with THREADS worker threads and for nginx with as
#            many workers.
# syscalls:  strace -c -f attached for 3 s under the same load: calls per
#            request, counting the straced requests as half the sending
#            calls (each request is one response written downstream and
#            one request written upstream).
# callgrind: the proxy with one worker thread under valgrind: counters
#            zeroed after a warm-up, dumped after $CG_DURATION s of wrk
#            -c16; prints instructions per request and the inclusive top
#            functions (callgrind counts user-space instructions only; the
#            kernel's share is in the cpu part). The same for one nginx
#            worker (master_process off).
#
# Results and their reading: docs/PERFORMANCE.md, "Where a request's time
# goes". Loopback only; needs wrk, nginx, strace, valgrind (installed here
# when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PART=${PART:-all}
DURATION=${DURATION:-5}
CG_DURATION=${CG_DURATION:-10}
THREADS=${THREADS:-2}

need=()
for t in wrk nginx strace valgrind; do command -v $t >/dev/null || need+=("$t"); done
if ((${#need[@]})); then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  pkgs=("${need[@]/nginx/nginx-light}")
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${pkgs[@]}" >/dev/null
  $sudo service nginx stop >/dev/null 2>&1 || true
fi
cargo build --release -q -p attestgate-proxy --bin attestgate
cargo build --release -q -p attestgate-testkit --bin fast-upstream
BIN=$ROOT/target/release
AG=${AG:-$BIN/attestgate}     # AG=/path/to/another/build: the same parts for that build

WORK=$(mktemp -d /tmp/attestgate-breakdown.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
source benches/load/lib.sh

UP=$(port)
$BIN/fast-upstream "127.0.0.1:$UP" 2>/dev/null & PIDS+=($!)
wait_port "$UP"

proxy_config() { # port threads
  cat <<EOF
[server]
listen = ["127.0.0.1:$1"]
threads = $2
[[route]]
name = "off"
path_prefix = "/off/"
upstream = "http://127.0.0.1:$UP"
token = "off"
EOF
}
nginx_config() { # port workers master(on|off)
  mkdir -p "$WORK/nginx-body" "$WORK/nginx-proxy"
  cat <<EOF
worker_processes $2;
master_process $3;
daemon off;
pid $WORK/nginx-$1.pid;
error_log $WORK/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  upstream up { server 127.0.0.1:$UP; keepalive 256; }
  server {
    listen 127.0.0.1:$1 reuseport;
    client_body_temp_path $WORK/nginx-body;
    proxy_temp_path $WORK/nginx-proxy;
    location /plain/ { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
EOF
}

# the server processes that do the work: nginx's workers, the proxy itself
workers_of() { local c; c=$(pgrep -P "$1" | tr '\n' ' '); if [ -n "$c" ] && [ "$2" = nginx ]; then echo "$c"; else echo "$1"; fi; }
ticks() { local u=0 s=0 p a b; for p in $1; do read -r a b < <(awk '{print $14, $15}' "/proc/$p/stat"); u=$((u + a)); s=$((s + b)); done; echo "$u $s"; }
HZ=$(getconf CLK_TCK)

start_servers() {
  AGP=$(port); NGP=$(port)
  proxy_config "$AGP" "$THREADS" > "$WORK/proxy.toml"
  RUST_LOG=warn $AG serve --config "$WORK/proxy.toml" 2>>"$WORK/proxy.log" & AG_PID=$!; PIDS+=($AG_PID)
  nginx_config "$NGP" "$THREADS" on > "$WORK/nginx.conf"
  nginx -c "$WORK/nginx.conf" -p "$WORK" 2>>"$WORK/nginx-error.log" & NG_PID=$!; PIDS+=($NG_PID)
  wait_port "$AGP"; wait_port "$NGP"
  sleep 0.3
  wrk -t1 -c64 -d1s "http://127.0.0.1:$AGP/off/x" >/dev/null
  wrk -t1 -c64 -d1s "http://127.0.0.1:$NGP/plain/x" >/dev/null
}

cpu_part() {
  echo "== CPU per request (wrk -t1 -c64, ${DURATION}s; $THREADS threads / workers)"
  for round in 1 2 3; do
    for s in attestgate nginx; do
      if [ $s = attestgate ]; then url="http://127.0.0.1:$AGP/off/x"; pids=$AG_PID; else url="http://127.0.0.1:$NGP/plain/x"; pids=$(workers_of "$NG_PID" nginx); fi
      read -r u0 s0 < <(ticks "$pids")
      out=$(wrk -t1 -c64 -d"${DURATION}s" "$url")
      read -r u1 s1 < <(ticks "$pids")
      n=$(echo "$out" | awk '/requests in/ {print $1}'); r=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
      awk -v s=$s -v round=$round -v r="$r" -v u=$((u1 - u0)) -v k=$((s1 - s0)) -v n="$n" -v hz="$HZ" 'BEGIN {
        f = 1000000 / hz / n
        printf "round %d %-11s %9.0f req/s   CPU %6.2f µs/request = user %5.2f + system %5.2f\n", round, s, r, (u + k) * f, u * f, k * f }'
    done
  done
}

syscalls_part() {
  echo "== system calls per request (strace -c -f, 3 s under wrk -t1 -c64)"
  for s in attestgate nginx; do
    if [ $s = attestgate ]; then url="http://127.0.0.1:$AGP/off/x"; pids=$AG_PID; else url="http://127.0.0.1:$NGP/plain/x"; pids=$(workers_of "$NG_PID" nginx); fi
    wrk -t1 -c64 -d6s "$url" >/dev/null & WRK=$!
    sleep 1
    args=(); for p in $pids; do args+=(-p "$p"); done
    timeout -s INT 3 strace -c -f "${args[@]}" -o "$WORK/strace-$s.txt" 2>/dev/null || true
    wait $WRK
    # each request is one response written downstream and one request
    # written upstream: half the sending calls
    awk -v s=$s '
      /^-+ / { dash++; next }
      dash == 1 && NF >= 5 { calls[$NF] = $4; order[++n] = $NF }
      END {
        req = (calls["sendto"] + calls["writev"] + calls["sendmsg"]) / 2
        printf "%s: ~%d requests straced\n", s, req
        for (i = 1; i <= n; i++) { c = order[i]; if (c == "clock_nanosleep") continue; printf "  %-16s %6.2f per request\n", c, calls[c] / req; t += calls[c] }
        printf "  %-16s %6.2f per request (without the timer thread'"'"'s clock_nanosleep)\n", "total", t / req
      }' "$WORK/strace-$s.txt"
  done
}

callgrind_part() {
  echo "== instructions per request (callgrind; one worker; wrk -t1 -c16, ${CG_DURATION}s)"
  local p
  p=$(port); proxy_config "$p" 1 > "$WORK/cg-proxy.toml"
  RUST_LOG=warn profile attestgate "$p" /off/x INT $AG serve --config "$WORK/cg-proxy.toml"
  p=$(port); nginx_config "$p" 1 off > "$WORK/cg-nginx.conf"
  profile nginx "$p" /plain/x QUIT nginx -c "$WORK/cg-nginx.conf" -p "$WORK"
}

profile() { # name port path stop-signal command...: callgrind the command under load
  local name=$1 p=$2 path=$3 sig=$4 vg n
  shift 4
  valgrind --tool=callgrind --callgrind-out-file="$WORK/cg-$name.out" "$@" 2>"$WORK/cg-$name.log" & vg=$!; PIDS+=($vg)
  wait_port "$p" 30
  wrk -t1 -c16 -d3s "http://127.0.0.1:$p$path" >/dev/null
  callgrind_control -z $vg >/dev/null
  n=$(wrk -t1 -c16 -d"${CG_DURATION}s" "http://127.0.0.1:$p$path" | awk '/requests in/ {print $1}')
  callgrind_control -d $vg >/dev/null
  kill -"$sig" $vg; wait $vg 2>/dev/null || true
  report "$name" "$(ls "$WORK/cg-$name.out".* | head -1)" "$n"
  # CG_KEEP=DIR: keep the profile (callgrind_annotate, kcachegrind)
  if [ -n "${CG_KEEP:-}" ]; then cp "$(ls "$WORK/cg-$name.out".* | head -1)" "$CG_KEEP/cg-$name.out"; fi
}

report() { # name file requests
  local total
  total=$(awk '/^totals:/ {print $2}' "$2")
  awk -v s="$1" -v t="$total" -v n="$3" 'BEGIN { printf "%s: %d requests, %.0f instructions per request\n", s, n, t / n }'
  # inclusive, per request, the functions above 1.5 % (names shortened)
  callgrind_annotate --inclusive=yes --threshold=100 "$2" 2>/dev/null |
    awk -v n="$3" -v t="$total" '
      $2 ~ /^\(/ && $1 ~ /^[0-9,]+$/ {
        v = $1; gsub(",", "", v); if (v / t < 0.015) next
        name = $0; sub(/^[^)]*\) */, "", name); sub(/ \[.*$/, "", name); sub(/^.*\.rs:/, "", name); sub(/^.*\.[ch]:/, "", name)
        if (seen[name]++ || shown >= 45) next
        shown++
        printf "  %8.0f  %5.1f%%  %s\n", v / n, 100 * v / t, substr(name, 1, 110)
      }'
}

start_servers
case $PART in
  cpu) cpu_part ;;
  syscalls) syscalls_part ;;
  callgrind) callgrind_part ;;
  all) cpu_part; syscalls_part; callgrind_part ;;
  *) echo "PART: cpu, syscalls, callgrind or all" >&2; exit 2 ;;
esac
