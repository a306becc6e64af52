#!/usr/bin/env bash
# The CT watch's memory while tailing a long log (docs/PERFORMANCE.md,
# "Certificate Transparency watch"): `attestgate pins ct-watch --once
# --start beginning` reads a synthetic static-ct-api log of $ENTRIES
# entries (default 10 million; tests/ctlog's ct-synthetic-log, made on
# request on 127.0.0.1) while its resident memory (VmRSS) and position are
# sampled every second. Memory must stay flat in the number of entries.
#   ENTRIES=10000000 benches/ct-tail.sh     (SKIP_BUILD=1: use the binaries built)
set -euo pipefail
cd "$(dirname "$0")/.."
ENTRIES=${ENTRIES:-10000000}
if [ -z "${SKIP_BUILD:-}" ]; then
  cargo build --release -q -p attestgate-proxy --bin attestgate
  cargo build --release -q -p attestgate-ctlog --bin ct-synthetic-log
fi
BIN=$(pwd)/target/release
WORK=$(mktemp -d /tmp/attestgate-ct-tail.XXXXXX)
ORIGIN=synthetic.test.example/log
mkfifo "$WORK/port"
"$BIN/ct-synthetic-log" "$ENTRIES" "$ORIGIN" > "$WORK/port" 2>"$WORK/log.err" & LOGP=$!
trap 'kill $LOGP $WP 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT
WP=""
read -r PORT SPKI LOGID < "$WORK/port"
cat > "$WORK/logs.json" <<JSON
{"version":"bench","log_list_timestamp":"2026-12-01T00:00:00Z","operators":[{"name":"bench","email":["b@example.com"],"logs":[],"tiled_logs":[
 {"description":"synthetic","log_id":"$LOGID","key":"$SPKI","submission_url":"https://$ORIGIN/","monitoring_url":"http://127.0.0.1:$PORT/","mmd":60,"state":{"usable":{"timestamp":"2026-01-01T00:00:00Z"}}}]}]}
JSON
cat > "$WORK/pins.toml" <<TOML
[[domain]]
name = "api.example.com"
pins = [{ sha256 = "7HIpactkIAq2Y49orFOOQKurWxmmSFZhBCoQYcRhJ3Y=" }, { sha256 = "fwza0LRMXouZHRC8Ei+4PyuIdPdCf3UKg0/04cDM1oE=" }]
TOML
START=$(date +%s.%N)
"$BIN/attestgate" pins ct-watch --once --start beginning --config "$WORK/pins.toml" \
  --state "$WORK/state" --logs "$WORK/logs.json" --timeout 60s 2>"$WORK/watch.err" & WP=$!
printf '%8s %12s %10s\n' seconds entries rss_kib
while kill -0 $WP 2>/dev/null; do
  RSS=$(awk '/^VmRSS/ {print $2}' /proc/$WP/status 2>/dev/null || echo 0)
  POS=$(grep -ho '"position": [0-9]*' "$WORK"/state/logs/*.json 2>/dev/null | grep -o '[0-9]*' || echo 0)
  NOW=$(date +%s.%N)
  printf '%8.1f %12s %10s\n' "$(echo "$NOW - $START" | bc)" "${POS:-0}" "${RSS:-0}"
  sleep 1
done
wait $WP; CODE=$?
END=$(date +%s.%N)
POS=$(grep -ho '"position": [0-9]*' "$WORK"/state/logs/*.json | grep -o '[0-9]*')
echo "exit $CODE; $POS entries in $(echo "$END - $START" | bc) s: $(echo "$POS / ($END - $START)" | bc) entries/s"
