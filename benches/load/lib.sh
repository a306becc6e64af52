# Sourced by benches/load.sh, benches/fresh-tail.sh and benches/breakdown.sh.

# A free TCP port on 127.0.0.1.
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Waits until 127.0.0.1:PORT accepts, for up to SECONDS (default 5; a
# server under valgrind needs more).
wait_port() { # PORT [SECONDS]
  local tries=$(( ${2:-5} * 20 ))
  for _ in $(seq "$tries"); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.05; done
  echo "port $1 did not open" >&2; return 1
}

# The proxy config every build understands: a route-off route under /off/
# and an HS256-checked route for the rest, both to 127.0.0.1:UPSTREAM.
# SERVER and TOKEN are extra lines for [server] and [token].
two_route_config() { # LISTEN_PORT THREADS UPSTREAM_PORT SECRET [SERVER] [TOKEN]
  cat <<EOF
[server]
listen = ["127.0.0.1:$1"]
threads = $2
${5:-}
[token]
${6:-}
[[token.secret]]
base64 = { value = "$4" }
[[route]]
name = "off"
path_prefix = "/off/"
upstream = "http://127.0.0.1:$3"
token = "off"
[[route]]
name = "checked"
path_prefix = "/"
upstream = "http://127.0.0.1:$3"
EOF
}
